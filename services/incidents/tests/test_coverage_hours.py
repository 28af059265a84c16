"""Monitoring coverage `business_hours` as pure rules (coverage.py, triage.py): an alert
outside the contract's business hours is recorded "outside_coverage" and opens nothing
until coverage starts, then is triaged if still firing. Europe/London (local = UTC in
early March), `coverage_starts_at` on hand-computed instants in a UTC-5 zone (across
the DST change, and a UK Easter weekend), properties over any instant and several zones,
and alerts resolved or expired before coverage starts open nothing. The same through
the real broker and Postgres: test_monitoring_coverage.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_factory import contract, firing, heartbeat, resolved

from incidents.config import TriageConfig
from incidents.coverage import coverage_starts_at
from incidents.outputs import Effects
from incidents.state import CustomerState
from incidents.triage import advance, apply_event
from msp_events import Envelope
from msp_events.calendar import business_time_between, calendar_for
from msp_events.types.contracts import ContractSnapshot, ContractVersion

CFG = TriageConfig()
C = "cov-co"
NY = "America/New_York"  # UTC-5 until the DST change on Sunday 2026-03-08
LONDON = "Europe/London"
# Europe/London, Mon-Fri 08:00-18:00 (GMT in early March: local = UTC)
TUE_2200 = datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
WED_0800 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
ZONES = [NY, "Europe/London", "Asia/Kolkata", "Australia/Sydney", "UTC", "Pacific/Chatham"]


def snapshot(*, coverage: str = "business_hours", timezone: str = NY) -> ContractSnapshot:
    data = contract(C, coverage=coverage, timezone=timezone).data
    assert isinstance(data, ContractSnapshot)
    return data


def version(timezone: str = NY) -> ContractVersion:
    return snapshot(timezone=timezone).versions[0]


def local(timezone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(timezone)).astimezone(UTC)  # type: ignore[misc]


def test_an_evening_alert_waits_for_08_00_local_the_next_business_day() -> None:
    # Tuesday 22:00 EST (03:00 UTC Wednesday) -> Wednesday 08:00 EST = 13:00 UTC
    at = local(NY, 2026, 3, 3, 22, 0)
    assert coverage_starts_at(version(), at) == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


def test_friday_night_waits_for_monday_in_its_own_offset() -> None:
    # Friday 22:00 EST -> Monday 08:00 EDT (DST began on Sunday) = 12:00 UTC
    at = local(NY, 2026, 3, 6, 22, 0)
    assert coverage_starts_at(version(), at) == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def test_bank_holidays_are_not_covered() -> None:
    # Thursday before Easter 19:00 BST -> Good Friday and Easter Monday closed ->
    # Tuesday 2026-04-07 08:00 BST = 07:00 UTC
    at = local("Europe/London", 2026, 4, 2, 19, 0)
    got = coverage_starts_at(version("Europe/London"), at)
    assert got == datetime(2026, 4, 7, 7, 0, tzinfo=UTC)


def test_inside_hours_opening_included_closing_excluded_and_24x7_always() -> None:
    v = version()
    assert coverage_starts_at(v, local(NY, 2026, 3, 4, 8, 0)) is None
    assert coverage_starts_at(v, local(NY, 2026, 3, 4, 12, 30)) is None
    assert coverage_starts_at(v, local(NY, 2026, 3, 4, 18, 0)) == local(NY, 2026, 3, 5, 8, 0)
    always = snapshot(coverage="24x7").versions[0]
    assert coverage_starts_at(always, local(NY, 2026, 3, 7, 3, 0)) is None


@given(
    at=st.datetimes(
        min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)
    ),
    timezone=st.sampled_from(ZONES),
)
def test_coverage_starts_at_is_the_first_covered_instant(at: datetime, timezone: str) -> None:
    v = version(timezone)
    calendar = calendar_for(v, "business_hours")
    start = coverage_starts_at(v, at)
    if start is None:
        assert calendar.is_open(at)
        return
    assert not calendar.is_open(at)
    assert start > at and calendar.is_open(start)
    assert business_time_between(calendar, at, start) == timedelta(0)  # none skipped
    opened = start.astimezone(ZoneInfo(timezone))
    assert (opened.hour, opened.minute, opened.weekday() < 5) == (8, 0, True)
    assert not v.calendar.is_holiday(opened.date())


def run(events: list[Envelope], contract_data: ContractSnapshot) -> tuple[CustomerState, Effects]:
    state = CustomerState(customer_id=C)
    fx = Effects(C)
    for e in events:
        fx.extend(apply_event(state, contract_data, e, CFG))
    return state, fx


def tickets(fx: Effects) -> list[str]:
    return [e.type for e in fx.events if e.type.startswith("msp.ticket.")]


def test_alert_outside_coverage_is_recorded_and_opens_its_ticket_when_coverage_starts() -> None:
    contract_data = snapshot()
    at = local(NY, 2026, 3, 3, 22, 0)
    repeats = [at + timedelta(hours=h) for h in (3, 6, 9)]  # still firing overnight
    state, fx = run([firing(C, "srv", at)] + [firing(C, "srv", r) for r in repeats], contract_data)
    assert [r.outcome for r in fx.log] == ["outside_coverage", "repeat", "repeat", "repeat"]
    assert "until 2026-03-04T13:00:00+00:00 (Wed 08:00 America/New_York): no ticket" in (
        fx.log[0].reason
    )
    assert state.incidents == {} and tickets(fx) == []
    opens = local(NY, 2026, 3, 4, 8, 0)
    assert state.wake_at == opens  # the scheduler claims the customer exactly then
    assert advance(state, contract_data, opens - timedelta(seconds=1), CFG).events == []
    fx = advance(state, contract_data, opens, CFG)
    assert [r.outcome for r in fx.log] == ["opened"] and fx.log[0].at == opens
    assert tickets(fx) == ["msp.ticket.created.v1"]
    later = advance(state, contract_data, opens + timedelta(hours=1), CFG)
    assert tickets(later) == []  # once


def test_an_alert_resolved_or_expired_before_coverage_opens_nothing() -> None:
    contract_data = snapshot()
    at = local(NY, 2026, 3, 3, 22, 0)
    state, fx = run(
        [firing(C, "a", at), resolved(C, "a", at + timedelta(hours=1)), firing(C, "b", at)],
        contract_data,
    )
    # "b" never repeats: it expires (4 h) before 08:00 and opens nothing either
    fx.extend(advance(state, contract_data, local(NY, 2026, 3, 4, 9, 0), CFG))
    assert state.incidents == {} and tickets(fx) == []
    assert [r.outcome for r in fx.log].count("outside_coverage") == 2


def run_london(events: list[Envelope], coverage: str = "business_hours") -> Effects:
    _, fx = run(events, snapshot(coverage=coverage, timezone=LONDON))
    return fx


def test_alert_at_22_00_waits_for_08_00_then_opens_one_incident() -> None:
    fx = run_london([firing(C, "down", TUE_2200, kind="server_down")])
    [record] = fx.log
    assert record.outcome == "outside_coverage"
    assert "2026-03-04T08:00:00+00:00" in record.reason
    assert not fx.events
    # repeats keep it firing; the first event at or after 08:00 triages it at 08:00
    later = run_london(
        [
            firing(C, "down", TUE_2200, kind="server_down"),
            firing(C, "down", TUE_2200 + timedelta(hours=3), kind="server_down"),
            firing(C, "down", TUE_2200 + timedelta(hours=6), kind="server_down"),
            firing(C, "down", TUE_2200 + timedelta(hours=9), kind="server_down"),
            heartbeat(C, "fw-1", WED_0800 + timedelta(minutes=1)),
        ]
    )
    opened = [r for r in later.log if r.outcome == "opened"]
    assert [r.at for r in opened] == [WED_0800]
    assert [e.type for e in later.events].count("msp.incident.opened.v1") == 1


def test_resolved_before_coverage_opens_nothing_and_24x7_opens_at_once() -> None:
    fx = run_london(
        [
            firing(C, "down", TUE_2200, kind="server_down"),
            resolved(C, "down", TUE_2200 + timedelta(hours=1), kind="server_down"),
            heartbeat(C, "fw-1", WED_0800 + timedelta(hours=1)),
        ]
    )
    assert not [r for r in fx.log if r.outcome == "opened"]
    always = run_london([firing(C, "down", TUE_2200, kind="server_down")], coverage="24x7")
    assert [r.outcome for r in always.log] == ["opened"]


@settings(deadline=None, max_examples=200)
@given(minutes=st.integers(0, 60 * 24 * 400))
def test_coverage_starts_at_the_next_opening_and_nothing_is_covered_before(minutes: int) -> None:
    # every minute of 2026 and early 2027 in London (the zone property samples instants)
    v = version(LONDON)
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes, seconds=17)
    calendar = calendar_for(v, "business_hours")
    starts = coverage_starts_at(v, at)
    if calendar.is_open(at):
        assert starts is None
        return
    assert starts is not None and starts > at
    assert calendar.is_open(starts)
    assert business_time_between(calendar, at, starts) == timedelta(0)
