"""The monthly report's rules, pure: when it is due (the first business day of the next
month in the customer's zone) and what the event carries (the report's figures, the
CSV within its bound)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events import decode, encode, make_event
from msp_events.calendar import hours_calendar
from msp_events.types.contracts import BusinessCalendar, Holiday, SlaTarget, TimeRange
from msp_events.types.sla import MAX_REPORT_BREACHES, MAX_REPORT_CSV
from sla_clock.models import AvailabilityRead, ClockRead, ReportRead
from sla_clock.monthly import (
    first_report_month,
    months_due,
    next_month,
    report_due_at,
    report_event,
)
from sla_clock.report import build_report, month_bounds, to_csv

from .conftest import contract_version, london, snapshot

NEW_YORK = ZoneInfo("America/New_York")


def test_due_at_the_opening_of_the_first_business_day_of_the_next_month() -> None:
    contract = snapshot()  # London, Mon-Fri 08:00-18:00, UK bank holidays 2026
    assert report_due_at(contract, "2026-03") == london(2026, 4, 1, 8)  # a Wednesday, BST
    assert report_due_at(contract, "2026-07") == london(2026, 8, 3, 8)  # 1st: a Saturday
    # 1 January 2026 is a bank holiday (a Thursday): Friday the 2nd
    assert report_due_at(contract, "2025-12") == london(2026, 1, 2, 8)
    # the week after Easter: Good Friday 3 April and Easter Monday 6 April are holidays
    holidays = [Holiday(date=date(2026, 5, d), name="closed") for d in (1, 4)]
    hours = contract.current.calendar.model_copy(update={"holidays": holidays})
    closed = snapshot(contract_version(calendar=hours))
    assert report_due_at(closed, "2026-04") == london(2026, 5, 5, 8)


def test_due_in_the_customer_zone_and_at_midnight_without_business_hours() -> None:
    ny = snapshot(contract_version(timezone="America/New_York"))
    assert report_due_at(ny, "2026-10") == datetime(2026, 11, 2, 8, tzinfo=NEW_YORK)
    p1_only = [
        SlaTarget(priority="P1", first_response_minutes=15, resolution_minutes=240, coverage="24x7")
    ]
    base = contract_version()
    round_the_clock = snapshot(
        contract_version(
            calendar=BusinessCalendar(),
            sla=base.sla.model_copy(update={"targets": p1_only}),
            monitoring=base.monitoring.model_copy(update={"coverage": "24x7"}),
        )
    )
    assert report_due_at(round_the_clock, "2026-03") == london(2026, 4, 1, 0)


def test_reports_start_with_the_month_the_contract_was_learnt() -> None:
    contract = snapshot()  # in force since 1 January 2026
    assert first_report_month(contract, learnt_at=london(2025, 12, 20)) == "2026-01"
    assert first_report_month(contract, learnt_at=london(2026, 2, 27, 9)) == "2026-02"
    # 31 March 23:30 in London is 22:30 UTC: still March there
    assert first_report_month(contract, learnt_at=london(2026, 3, 31, 23, 30)) == "2026-03"
    assert next_month("2026-12") == "2027-01" and next_month("2026-01") == "2026-02"
    learnt = london(2026, 2, 27, 9)
    assert months_due(contract, learnt_at=learnt, now=london(2026, 3, 2, 7, 59)) == []
    assert months_due(contract, learnt_at=learnt, now=london(2026, 4, 1, 8)) == [
        "2026-02",
        "2026-03",
    ]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    days = draw(
        st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1)
    )
    start = draw(st.integers(0, 22))
    hours = [TimeRange(start=time(start), end=time(draw(st.integers(start + 1, 23))))]
    holidays = draw(st.sets(st.integers(1, 40), max_size=20))
    return BusinessCalendar(
        weekly_hours=dict.fromkeys(days, hours),
        holidays=[
            Holiday(date=date(2026, 5, 1) + timedelta(days=d - 1), name="h") for d in holidays
        ],
    )


@settings(max_examples=150, deadline=None)
@given(
    hours=calendars(),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]),
)
def test_due_is_the_first_opening_of_the_next_month(hours: BusinessCalendar, zone: str) -> None:
    contract = snapshot(contract_version(calendar=hours, timezone=zone))
    due = report_due_at(contract, "2026-04")
    _, month_end = month_bounds("2026-04", zone)
    _, next_end = month_bounds("2026-05", zone)
    assert month_end <= due < next_end
    calendar = hours_calendar(zone, hours)
    if not calendar.is_open(due):  # no business day in May: local midnight of the 1st
        assert due == month_end
        day = date(2026, 5, 1)
        while day.month == 5:
            assert not calendar.day_intervals(day)
            day += timedelta(days=1)
        return
    assert calendar.is_open(due) and not calendar.is_open(due - timedelta(seconds=1))
    opened_before = [
        s
        for d in range(1, calendar.local_date(due).day)
        for s, _ in calendar.day_intervals(date(2026, 5, d))
    ]
    assert opened_before == []


# -- the event's content --------------------------------------------------------------


def clock(n: int, outcome: str) -> ClockRead:
    started = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(minutes=n)
    return ClockRead(
        clock_id=f"clk-T{n}-resolution-1",
        ticket_id=f"T{n}",
        metric="resolution",
        cycle=1,
        priority="P3",
        tier="managed",
        state="stopped",
        outcome=outcome,  # type: ignore[arg-type]
        coverage="business_hours",
        target_business_seconds=72_000,
        elapsed_business_seconds=80_000 if outcome == "breached" else 3600,
        remaining_business_seconds=-8000 if outcome == "breached" else 68_400,
        started_at=started,
        stopped_at=started + timedelta(days=3),
        stop_reason="resolved",
        due_at=started + timedelta(days=2),
        breached_at=started + timedelta(days=2) if outcome == "breached" else None,
        contract_id="ctr-1",
        contract_version=1,
        pauses=[],
    )


def report_of(clocks: list[ClockRead]) -> ReportRead:
    return build_report(
        customer_id="cust-1",
        month="2026-03",
        timezone="Europe/London",
        clocks=clocks,
        outages=[(london(2026, 3, 10, 10), london(2026, 3, 10, 11))],
        uptime_target=Decimal("99.5"),
        now=london(2026, 4, 1, 8),
    )


def test_the_event_carries_the_report_figures_and_its_csv() -> None:
    pending = clock(2, "pending").model_copy(
        update={"metric": "first_response", "state": "running"}
    )
    report = report_of([clock(0, "met"), clock(1, "breached"), pending])
    event = report_event(report, contract_id="ctr-1", contract_version=1)
    # absent figures (no finished first-response clock) survive the wire
    envelope = make_event(event, customer_id="cust-1", source="/sla-clock", time=report.as_of)
    assert decode(encode(envelope).value).data == event
    assert event.mean_time_to_respond_seconds is None
    assert event.csv == to_csv(report) and event.csv_rows_omitted == 0
    assert [s.model_dump(mode="json") for s in event.summary] == [
        s.model_dump(mode="json") for s in report.summary
    ]
    assert event.availability.model_dump(mode="json") == report.availability.model_dump(mode="json")
    assert AvailabilityRead.model_validate(event.availability.model_dump()) == report.availability
    assert [b.clock_id for b in event.breaches] == ["clk-T1-resolution-1"]
    assert (event.breaches_total, event.clocks, event.as_of) == (1, 3, report.as_of)


def test_a_huge_month_keeps_every_figure_and_cuts_the_csv_and_breach_list() -> None:
    many = [clock(n, "breached" if n % 2 else "met") for n in range(4000)]
    report = report_of(many)
    event = report_event(report, contract_id="ctr-1", contract_version=1)
    assert len(event.csv) <= MAX_REPORT_CSV and event.csv.endswith("\n")
    full = to_csv(report)
    assert full.startswith(event.csv)
    assert event.csv.count("\n") - 1 + event.csv_rows_omitted == 4000  # header line
    assert len(event.breaches) == MAX_REPORT_BREACHES and event.breaches_total == 2000
    assert event.summary[0].clocks == 4000 and event.summary[0].breached == 2000
    # the encoded event fits a Kafka record (1 MiB)
    envelope = make_event(event, customer_id="cust-1", source="/sla-clock", time=report.as_of)
    assert len(encode(envelope).value) < 1_000_000
