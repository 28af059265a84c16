"""The shared business calendar (`msp_events.calendar`): business-time arithmetic on DST
days in New York and London, holidays, midnight, 24x7; whether an instant is open and
where a day's cuts are (billing's after-hours rule); hypothesis properties (round trip,
monotonicity, additivity, openness constant between cuts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events.calendar import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    calendar_for,
)
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import BusinessCalendar as CalendarSpec
from msp_events.types.contracts import Holiday, TimeRange

H = timedelta(hours=1)
NY = ZoneInfo("America/New_York")
LON = ZoneInfo("Europe/London")


def office(tz: str, *, holidays: frozenset[date] = frozenset(), days: int = 5) -> BusinessCalendar:
    return BusinessCalendar(
        timezone=tz,
        weekly_minutes={d: ((8 * 60, 18 * 60),) for d in range(days)},
        holidays=holidays,
    )


def all_day(tz: str) -> BusinessCalendar:
    return BusinessCalendar(timezone=tz, weekly_minutes={d: ((0, 1440),) for d in range(7)})


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def test_friday_1755_plus_one_business_hour_is_monday_0855() -> None:
    cal = office("Europe/London")
    start = local(LON, 2026, 3, 6, 17, 55)  # a Friday
    assert add_business_time(cal, start, H) == local(LON, 2026, 3, 9, 8, 55)


def test_ending_exactly_at_closing_time_stays_on_that_day() -> None:
    cal = office("Europe/London")
    start = local(LON, 2026, 3, 6, 17, 0)
    assert add_business_time(cal, start, H) == local(LON, 2026, 3, 6, 18, 0)


def test_start_outside_hours_counts_from_next_opening() -> None:
    cal = office("America/New_York")
    start = local(NY, 2026, 3, 7, 23, 30)  # Saturday night
    assert add_business_time(cal, start, timedelta(minutes=30)) == local(NY, 2026, 3, 9, 8, 30)
    assert business_time_between(cal, start, local(NY, 2026, 3, 9, 8, 30)) == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("tz", "day", "expected_hours"),
    [
        (NY, date(2026, 3, 8), 23),  # spring forward
        (NY, date(2026, 11, 1), 25),  # fall back
        (LON, date(2026, 3, 29), 23),
        (LON, date(2026, 10, 25), 25),
        (LON, date(2026, 6, 1), 24),
    ],
)
def test_a_whole_local_day_follows_dst(tz: ZoneInfo, day: date, expected_hours: int) -> None:
    cal = all_day(str(tz))
    start = local(tz, day.year, day.month, day.day)
    nxt = day + timedelta(days=1)
    end = local(tz, nxt.year, nxt.month, nxt.day)
    assert business_time_between(cal, start, end) == expected_hours * H
    assert add_business_time(cal, start, expected_hours * H) == end


@pytest.mark.parametrize(
    ("tz", "monday"),
    [
        (NY, date(2026, 3, 9)),
        (NY, date(2026, 11, 2)),
        (LON, date(2026, 3, 30)),
        (LON, date(2026, 10, 26)),
    ],
)
def test_office_hours_after_a_dst_weekend_are_local(tz: ZoneInfo, monday: date) -> None:
    # Friday 17:00 + 2 business hours = Monday 09:00 local, whatever the offset did.
    cal = office(str(tz))
    friday = monday - timedelta(days=3)
    start = local(tz, friday.year, friday.month, friday.day, 17)
    end = local(tz, monday.year, monday.month, monday.day, 9)
    assert add_business_time(cal, start, 2 * H) == end
    assert business_time_between(cal, start, end) == 2 * H


def test_office_hours_on_the_dst_day_itself_are_ten_hours() -> None:
    cal = office("Europe/London", days=7)
    day = date(2026, 3, 29)  # Sunday, clocks go forward at 01:00
    intervals = cal.day_intervals(day)
    assert intervals == ((local(LON, 2026, 3, 29, 8), local(LON, 2026, 3, 29, 18)),)
    assert intervals[0][0] == datetime(2026, 3, 29, 7, tzinfo=UTC)  # BST


def test_holidays_are_closed() -> None:
    cal = office("Europe/London", holidays=frozenset({date(2026, 4, 3), date(2026, 4, 6)}))
    start = local(LON, 2026, 4, 2, 17, 30)  # Thursday before Good Friday
    assert add_business_time(cal, start, H) == local(LON, 2026, 4, 7, 8, 30)


def test_midnight_boundary_with_a_late_shift() -> None:
    cal = BusinessCalendar(
        timezone="America/New_York",
        weekly_minutes={0: ((20 * 60, 1440),), 1: ((0, 4 * 60),)},
    )
    start = local(NY, 2026, 3, 2, 23)  # Monday 23:00
    assert add_business_time(cal, start, 2 * H) == local(NY, 2026, 3, 3, 1)
    assert business_time_between(cal, start, local(NY, 2026, 3, 3, 1)) == 2 * H


def test_24x7_is_wall_time() -> None:
    cal = calendar_for(sample_contract_version(), "24x7")
    a = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert add_business_time(cal, a, 5 * H) == a + 5 * H
    assert business_time_between(cal, a, a + 5 * H) == 5 * H


def test_calendar_from_contract_is_cached_and_uses_holidays() -> None:
    version = sample_contract_version()
    cal = calendar_for(version, "business_hours")
    assert cal is calendar_for(version, "business_hours")
    assert cal.day_intervals(date(2026, 12, 25)) == ()
    assert len(cal.day_intervals(date(2026, 12, 24))) == 1


def test_a_calendar_that_never_opens_is_an_error() -> None:
    cal = BusinessCalendar(timezone="UTC", weekly_minutes={})
    with pytest.raises(ValueError, match="no business hours"):
        add_business_time(cal, datetime(2026, 1, 1, tzinfo=UTC), H)


def test_contract_calendar_spec_round_trip() -> None:
    spec = CalendarSpec(
        weekly_hours={"mon": [TimeRange(start=time(9), end=time(0))]},
        holidays=[Holiday(date=date(2026, 3, 9), name="x")],
    )
    version = sample_contract_version().model_copy(
        update={"calendar": spec, "timezone": "America/New_York"}
    )
    cal = calendar_for(version, "business_hours")
    assert cal.day_intervals(date(2026, 3, 9)) == ()
    assert cal.day_intervals(date(2026, 3, 16)) == (
        (local(NY, 2026, 3, 16, 9), local(NY, 2026, 3, 17)),
    )


def test_is_open_is_inside_an_open_interval_of_the_local_day() -> None:
    cal = office("America/New_York", holidays=frozenset({date(2026, 7, 3)}))
    assert cal.is_open(local(NY, 2026, 3, 10, 8))  # opening instant counts
    assert cal.is_open(local(NY, 2026, 3, 10, 17, 59, 59))
    assert not cal.is_open(local(NY, 2026, 3, 10, 18))  # closing instant does not
    assert not cal.is_open(local(NY, 2026, 3, 10, 7, 59, 59))
    assert not cal.is_open(local(NY, 2026, 3, 14, 10))  # Saturday: no hours
    assert not cal.is_open(local(NY, 2026, 7, 3, 10))  # holiday closes the day
    assert cal.is_holiday(date(2026, 7, 3)) and not cal.is_holiday(date(2026, 7, 2))
    # judged in the customer's zone: 17:00 UTC is 12:00 in New York, 22:00 is 18:00 EDT
    assert cal.is_open(datetime(2026, 1, 13, 17, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 3, 9, 22, tzinfo=UTC))
    assert cal.is_open(datetime(2026, 3, 9, 21, 59, tzinfo=UTC), day=date(2026, 3, 9))


def test_24x7_is_always_open_and_cut_only_at_midnight() -> None:
    cal = calendar_for(sample_contract_version(), "24x7")
    assert cal.is_open(datetime(2026, 12, 25, 3, tzinfo=UTC))
    assert cal.day_cuts(date(2026, 3, 29)) == (local(LON, 2026, 3, 29),)


@pytest.mark.parametrize(
    ("tz", "day", "cuts"),
    [
        (NY, date(2026, 3, 10), ((2026, 3, 10, 0), (2026, 3, 10, 8), (2026, 3, 10, 18))),
        (NY, date(2026, 3, 8), ((2026, 3, 8, 0),)),  # Sunday (spring forward): midnight only
        (NY, date(2026, 7, 3), ((2026, 7, 3, 0),)),  # holiday: closed, so no edges
    ],
)
def test_day_cuts_are_midnight_openings_and_closings(
    tz: ZoneInfo, day: date, cuts: tuple[tuple[int, ...], ...]
) -> None:
    cal = office(str(tz), holidays=frozenset({date(2026, 7, 3)}))
    assert cal.day_cuts(day) == tuple(local(tz, *c) for c in cuts)
    assert cal.day_cuts(day) is cal.day_cuts(day)  # cached


def test_a_range_starting_in_the_spring_forward_gap_opens_after_it() -> None:
    # 02:30 does not exist in New York on 2026-03-08: it maps past the gap (03:30 EDT)
    cal = BusinessCalendar(timezone="America/New_York", weekly_minutes={6: ((150, 240),)})
    assert cal.day_intervals(date(2026, 3, 8)) == (
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC)),
    )
    assert not cal.is_open(datetime(2026, 3, 8, 7, 29, tzinfo=UTC))
    assert cal.is_open(datetime(2026, 3, 8, 7, 30, tzinfo=UTC))


CALENDARS = [office("America/New_York"), office("Europe/London"), all_day("Europe/London")]
instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=400))


@settings(max_examples=300, deadline=None)
@given(cal=st.sampled_from(CALENDARS), a=instants, d=durations)
def test_between_inverts_add(cal: BusinessCalendar, a: datetime, d: timedelta) -> None:
    assert business_time_between(cal, a, add_business_time(cal, a, d)) == d


@settings(max_examples=200, deadline=None)
@given(cal=st.sampled_from(CALENDARS), a=instants, d1=durations, d2=durations)
def test_add_is_monotonic_and_additive(
    cal: BusinessCalendar, a: datetime, d1: timedelta, d2: timedelta
) -> None:
    lo, hi = sorted((d1, d2))
    assert add_business_time(cal, a, lo) <= add_business_time(cal, a, hi)
    # adding in two steps lands where adding at once does
    mid = add_business_time(cal, a, lo)
    assert add_business_time(cal, mid, hi - lo) == add_business_time(cal, a, hi)


@settings(max_examples=200, deadline=None)
@given(cal=st.sampled_from(CALENDARS), a=instants, b=instants, c=instants)
def test_between_is_additive_and_bounded(
    cal: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    x, y, z = sorted((a, b, c))
    assert business_time_between(cal, x, z) == business_time_between(
        cal, x, y
    ) + business_time_between(cal, y, z)
    assert timedelta(0) <= business_time_between(cal, x, z) <= z - x


@settings(max_examples=200, deadline=None)
@given(cal=st.sampled_from(CALENDARS), a=instants)
def test_is_open_agrees_with_the_intervals(cal: BusinessCalendar, a: datetime) -> None:
    assert cal.is_open(a) == (next(cal.intervals_from(a))[0] == a)


@settings(max_examples=200, deadline=None)
@given(cal=st.sampled_from(CALENDARS), a=instants)
def test_openness_is_constant_between_cuts(cal: BusinessCalendar, a: datetime) -> None:
    """What billing relies on: cut a day at `day_cuts` and judge each piece by its first
    instant."""
    day = cal.local_date(a)
    cuts = cal.day_cuts(day)
    nxt = cal.day_cuts(day + timedelta(days=1))[0]
    assert cuts[0] <= a < nxt
    left = max(c for c in cuts if c <= a)
    right = min([c for c in cuts if c > a] + [nxt])
    assert cal.is_open(left) == cal.is_open(a)
    open_time = business_time_between(cal, left, right)
    assert open_time == (right - left if cal.is_open(left) else timedelta(0))
