"""Business hours on a contract's calendar, in one place for every service: when a
clock counts (sla-clock: `add_business_time`, `business_time_between`) and whether an
instant is inside business hours (billing's after-hours rule: `is_open`, `day_cuts`).

A calendar is turned into UTC *open intervals* one local day at a time (cached per day),
so arithmetic walks whole intervals, never minutes. Each local range is converted with
its own day's UTC offset, which is what makes DST days come out right: on a
spring-forward day an 08:00-18:00 range is still 10 hours, on a 00:00-24:00 range it is
23 hours (25 in autumn). A local time that does not exist (inside a spring-forward gap)
maps to the instant after the gap (PEP 495, fold=0); an ambiguous one to its first
occurrence. Holidays close the whole local day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from msp_events.types import contracts
from msp_events.types.contracts import WEEKDAYS, ContractVersion, Coverage

ZERO = timedelta(0)
MAX_SEARCH_DAYS = 3 * 366
"""A calendar with business hours cannot be closed longer than this (holidays are
dates in one contract, not years of closure); reaching it means bad data."""

Interval = tuple[datetime, datetime]


class BusinessCalendar:
    """When a clock counts: every instant (`coverage="24x7"`) or only the UTC open
    intervals derived from weekly hours and holidays in `timezone`."""

    def __init__(
        self,
        *,
        timezone: str,
        weekly_minutes: dict[int, tuple[tuple[int, int], ...]] | None,
        holidays: frozenset[date] = frozenset(),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        # weekday (0 = Monday) -> ((start_minute, end_minute), ...); None = 24x7
        self.weekly_minutes = weekly_minutes
        self.holidays = holidays
        self._days: dict[date, tuple[Interval, ...]] = {}
        self._cuts: dict[date, tuple[datetime, ...]] = {}

    @property
    def always_open(self) -> bool:
        return self.weekly_minutes is None

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def is_holiday(self, day: date) -> bool:
        """Whether local date `day` is one of the calendar's holidays (closed all day)."""
        return day in self.holidays

    def _utc(self, day: date, minute: int) -> datetime:
        local = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(minutes=minute)
        # `+ timedelta` on an aware datetime is wall-clock arithmetic: re-attach the zone
        # so the offset is the one in force at that wall time, then convert.
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def day_intervals(self, day: date) -> tuple[Interval, ...]:
        """The UTC open intervals of local date `day` (sorted, non-overlapping)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        assert self.weekly_minutes is not None
        intervals: list[Interval] = []
        if day not in self.holidays:
            day_start = self._utc(day, 0)
            day_end = self._utc(day + timedelta(days=1), 0)
            for start_min, end_min in self.weekly_minutes.get(day.weekday(), ()):
                start = max(self._utc(day, start_min), day_start)
                end = min(
                    day_end if end_min == 24 * 60 else self._utc(day, end_min),
                    day_end,
                )
                if intervals and start < intervals[-1][1]:  # only inside a DST gap
                    start = intervals[-1][1]
                if end > start:
                    intervals.append((start, end))
        result = tuple(intervals)
        self._days[day] = result
        return result

    def day_cuts(self, day: date) -> tuple[datetime, ...]:
        """Local midnight of `day` and every opening and closing instant on it, as sorted
        UTC instants (cached). Between one cut and the next (the last one's successor is
        the next day's midnight) neither the local date nor `is_open` changes, so
        whoever classifies time by date and openness need only cut here."""
        cached = self._cuts.get(day)
        if cached is not None:
            return cached
        found = {self._utc(day, 0)}
        if not self.always_open:
            for start, end in self.day_intervals(day):
                found.update((start, end))
        result = tuple(sorted(found))
        self._cuts[day] = result
        return result

    def is_open(self, instant: datetime, *, day: date | None = None) -> bool:
        """Whether `instant` is inside business hours (always, for 24x7). `day` is the
        instant's local date, when the caller has it already."""
        if self.weekly_minutes is None:
            return True
        local_day = self.local_date(instant) if day is None else day
        return any(start <= instant < end for start, end in self.day_intervals(local_day))

    def intervals_from(self, start: datetime) -> Iterator[Interval]:
        """Open intervals from `start` on (the first one clipped to `start`)."""
        day = self.local_date(start)
        for _ in range(MAX_SEARCH_DAYS):
            for s, e in self.day_intervals(day):
                if e > start:
                    yield (max(s, start), e)
            day += timedelta(days=1)
        raise ValueError(f"calendar has no business hours within {MAX_SEARCH_DAYS} days")


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of business time has elapsed after `start`.
    A zero duration returns `start` itself; a duration that ends exactly at closing
    time returns the closing instant (not the next opening)."""
    if duration < ZERO:
        raise ValueError("duration must not be negative")
    if calendar.always_open or duration == ZERO:
        return start + duration
    remaining = duration
    for s, e in calendar.intervals_from(start):
        if remaining <= e - s:
            return s + remaining
        remaining -= e - s
    raise AssertionError("unreachable: intervals_from raises when exhausted")


def business_time_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Business time in [a, b); zero when b <= a."""
    if b <= a:
        return ZERO
    if calendar.always_open:
        return b - a
    total = ZERO
    day, last = calendar.local_date(a), calendar.local_date(b)
    while day <= last:
        for s, e in calendar.day_intervals(day):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


@lru_cache(maxsize=4096)
def _build(
    timezone: str,
    weekly: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] | None,
    holidays: frozenset[date],
) -> BusinessCalendar:
    return BusinessCalendar(
        timezone=timezone,
        weekly_minutes=None if weekly is None else dict(weekly),
        holidays=holidays,
    )


def calendar_for(version: ContractVersion, coverage: Coverage) -> BusinessCalendar:
    """The (cached) calendar a clock of `coverage` runs on under `version`. Calendars
    with equal content share one instance, so their per-day intervals are computed once
    per process. `"business_hours"` is the contract's calendar (weekly hours and
    holidays; no weekly hours = never open); `"24x7"` is always open, without holidays."""
    if coverage == "24x7":
        return _build(version.timezone, None, frozenset())
    return hours_calendar(version.timezone, version.calendar)


def hours_calendar(timezone: str, hours: contracts.BusinessCalendar) -> BusinessCalendar:
    """The (cached) calendar of `hours` (weekly hours and holidays) in `timezone`: a
    contract's business hours, or anyone's working hours (notify's quiet hours)."""
    weekly = tuple(
        (index, tuple((r.start_minute, r.end_minute) for r in hours.weekly_hours[day]))
        for index, day in enumerate(WEEKDAYS)
        if day in hours.weekly_hours
    )
    holidays = frozenset(h.date for h in hours.holidays)
    return _build(timezone, weekly, holidays)
