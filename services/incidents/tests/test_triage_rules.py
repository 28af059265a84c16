"""The triage rules as pure functions with event time: identity and dedup, hold-down,
tombstones, expiry, heartbeat silence, correlation and the site rule, flapping,
maintenance windows (one-off and recurring), coverage, pending contracts; and
properties: duplicates change nothing, replays give the same ids."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_factory import (
    T0,
    cancelled,
    contract,
    firing,
    heartbeat,
    maintenance,
    resolved,
    t,
)

from incidents import flapping
from incidents.config import TriageConfig
from incidents.maintenance import occurrence
from incidents.outputs import Effects
from incidents.state import CustomerState
from incidents.triage import advance, apply_contract, apply_event
from msp_events import Envelope
from msp_events.types.contracts import WEEKDAYS, ContractSnapshot, MaintenanceWindow
from msp_events.types.incidents import IncidentUpdated
from msp_events.types.monitoring import MaintenanceScope

CFG = TriageConfig()
C = "cust"


def run(
    events: list[Envelope], *, snapshot: ContractSnapshot | None = None
) -> tuple[CustomerState, Effects]:
    state = CustomerState(customer_id=C)
    contract_data = snapshot or contract(C).data
    assert isinstance(contract_data, ContractSnapshot)
    fx = Effects(C)
    for e in events:
        fx.extend(apply_event(state, contract_data, e, CFG))
    return state, fx


def types(fx: Effects) -> Counter[str]:
    return Counter(e.type.removeprefix("msp.").removesuffix(".v1") for e in fx.events)


def outcomes(fx: Effects) -> list[str]:
    return [r.outcome for r in fx.log]


def test_severity_is_not_identity_and_an_increase_raises_priority() -> None:
    state, fx = run(
        [
            firing(C, "disk", t(0), kind="disk_space", severity="warning"),
            firing(C, "disk", t(60), kind="disk_space", severity="critical"),
        ]
    )
    assert outcomes(fx) == ["opened", "repeat"]
    assert types(fx)["incident.opened"] == 1
    assert types(fx)["ticket.priority_changed"] == 1  # P4 -> P3
    assert next(iter(state.incidents.values())).priority == "P3"


def test_trigger_within_holddown_refires_after_it_opens_a_new_alert_and_incident() -> None:
    _, fx = run(
        [
            firing(C, "a", t(0)),
            resolved(C, "a", t(10)),
            firing(C, "a", t(60)),  # within 120 s: same alert
            resolved(C, "a", t(70)),
            firing(C, "a", t(70 + 121 + 300)),  # after hold-down and correlation window
        ]
    )
    assert outcomes(fx) == [
        "opened",
        "resolved",
        "refired",
        "resolved",
        "incident_resolved",
        "opened",
    ]
    assert types(fx)["incident.opened"] == 2
    assert types(fx)["ticket.created"] == 2
    assert types(fx)["ticket.resolved"] == 1


def test_orphan_resolve_tombstone_expires() -> None:
    state, fx = run([resolved(C, "x", t(0))])
    assert "x" in state.tombstones
    fx2 = advance(state, contract(C).data, t(CFG.tombstone_ttl_s + 1), CFG)  # type: ignore[arg-type]
    assert "x" not in state.tombstones and not fx2.events
    assert outcomes(fx) == ["tombstone"]


def test_alert_without_resolve_expires_and_its_incident_resolves() -> None:
    state, _ = run([firing(C, "stuck", t(0), kind="cpu", severity="major")])
    later = advance(state, contract(C).data, t(CFG.alert_timeout_s + CFG.holddown_s + 1), CFG)  # type: ignore[arg-type]
    assert outcomes(later)[:2] == ["resolved", "incident_resolved"]
    assert "expired" in later.log[0].reason
    assert not state.incidents


def test_silent_device_raises_then_heartbeat_clears() -> None:
    state, fx = run([heartbeat(C, "srv-9", t(0), interval=60)])
    assert not fx.events
    silent = advance(state, contract(C).data, t(60 + CFG.heartbeat_grace_s), CFG)  # type: ignore[arg-type]
    assert types(silent)["incident.opened"] == 1
    opened = silent.events[0].data
    assert opened.check_kind == "heartbeat_missing"  # type: ignore[attr-defined]
    back = apply_event(state, contract(C).data, heartbeat(C, "srv-9", t(200), interval=600), CFG)  # type: ignore[arg-type]
    assert outcomes(back) == ["resolved"]
    done = advance(state, contract(C).data, t(200 + CFG.holddown_s), CFG)  # type: ignore[arg-type]
    assert types(done)["incident.resolved"] == 1


def test_same_device_or_site_within_window_correlates_else_new_incident() -> None:
    _, fx = run(
        [
            firing(C, "a", t(0), device="d1", site="s1", kind="disk_space"),
            firing(C, "b", t(60), device="d1", site=None, kind="cpu"),  # same device
            firing(C, "c", t(120), device="d2", site="s1", kind="cpu"),  # same site
            firing(C, "d", t(130), device="d3", site="s2", kind="cpu"),  # other site
            firing(C, "e", t(1000), device="d4", site="s1", kind="cpu"),  # window passed
        ]
    )
    assert outcomes(fx) == ["opened", "correlated", "correlated", "opened", "opened"]


def test_site_unreachable_by_share_of_known_devices() -> None:
    events = [heartbeat(C, f"d{i}", t(0), site="small") for i in range(3)]
    events += [
        firing(C, "o1", t(10), device="d0", site="small"),
        firing(C, "o2", t(20), device="d1", site="small"),  # 2 of 3 known devices
    ]
    state, fx = run(events)
    inc = next(iter(state.incidents.values()))
    assert inc.scope == "site" and "unreachable" in inc.title
    assert types(fx)["ticket.priority_changed"] == 1


def test_widening_updates_carry_new_devices_site_impact_and_a_current_title() -> None:
    # no heartbeats: the site's devices are known only from alerts, so it widens at 2 of 2
    events = [firing(C, f"o{i}", t(i), device=f"d{i}", site="s") for i in range(4)]
    events.append(firing(C, "cpu", t(5), device="d0", site="s", kind="cpu"))  # known device
    state, fx = run(events)
    updates = [e.data for e in fx.events if isinstance(e.data, IncidentUpdated)]
    assert [u.devices_attached for u in updates] == [["d1"], ["d2"], ["d3"], []]
    assert [u.scope for u in updates] == ["site", None, None, None]
    assert [u.impact for u in updates] == ["high", None, None, None]
    assert [u.title for u in updates] == [
        "Site s unreachable (2 devices offline)",
        "Site s unreachable (3 devices offline)",
        "Site s unreachable (4 devices offline)",
        None,
    ]
    inc = next(iter(state.incidents.values()))
    assert inc.device_ids == ["d0", "d1", "d2", "d3"] and inc.widened


def test_flapping_marks_once_and_clears_after_a_calm_window() -> None:
    seq = [(firing if i % 2 == 0 else resolved)(C, "f", t(i * 20)) for i in range(8)]
    state, fx = run(seq)
    flags = [e.data.flapping for e in fx.events if e.type.endswith("updated.v1")]  # type: ignore[attr-defined]
    assert flags == [True]
    assert types(fx)["ticket.created"] == 1 and types(fx)["ticket.resolved"] == 0
    calm = advance(state, contract(C).data, t(140 + CFG.flap_window_s + CFG.holddown_s), CFG)  # type: ignore[arg-type]
    assert [e.type.split(".")[2] for e in calm.events] == ["updated", "resolved", "resolved"]


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=30))
def test_flapping_window_keeps_only_recent_changes(offsets: list[int]) -> None:
    changes: list = []
    for off in sorted(offsets):
        changes = flapping.record_change(changes, T0 + timedelta(seconds=off), CFG.flap_window)
        assert all(changes[-1] - c < CFG.flap_window for c in changes)


def test_maintenance_cancel_reevaluates_at_once() -> None:
    _, fx = run(
        [
            maintenance(C, "w", t(0), t(3600)),
            firing(C, "a", t(60)),
            cancelled(C, "w", t(120)),
        ]
    )
    assert outcomes(fx) == ["maintenance", "suppressed", "maintenance", "opened"]
    assert fx.events[0].data.opened_at == t(120)  # type: ignore[attr-defined]


def naive_occurrence(window: MaintenanceWindow, zone: str, at: datetime) -> object:
    """The window's occurrence found by walking the 9 days back one by one."""
    tz = ZoneInfo(zone)
    for back in range(9):
        day = at.astimezone(tz).date() - timedelta(days=back)
        if WEEKDAYS[day.weekday()] == window.weekday:
            start = datetime.combine(day, window.start, tzinfo=tz).astimezone(UTC)
            if start <= at < start + timedelta(minutes=window.duration_minutes):
                return start, start + timedelta(minutes=window.duration_minutes)
    return None


@settings(max_examples=300, deadline=None)
@given(
    weekday=st.sampled_from(WEEKDAYS),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    minutes=st.integers(min_value=1, max_value=7 * 24 * 60),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]),
    offset_s=st.integers(min_value=0, max_value=60 * 86400),
)
def test_recurring_window_occurrence_is_the_day_by_day_walk(
    weekday: str, start: time, minutes: int, zone: str, offset_s: int
) -> None:
    """`occurrence` visits only the days on the window's weekday: the same answer as
    walking every day back (DST changes included)."""
    window = MaintenanceWindow(
        window_id="w",
        weekday=weekday,  # type: ignore[arg-type]
        start=start,
        duration_minutes=minutes,
        scope=MaintenanceScope(whole_customer=True),
    )
    at = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    assert occurrence(window, zone, at) == naive_occurrence(window, zone, at)


def test_recurring_contract_window_in_local_time() -> None:
    window = MaintenanceWindow(
        window_id="sun-patch",
        weekday="sun",
        start=time(1, 0),
        duration_minutes=180,
        scope=MaintenanceScope(whole_customer=True),
    )
    sunday_2am_london = T0.replace(day=8, hour=2)  # 2026-03-08 is a Sunday, GMT
    assert occurrence(window, "Europe/London", sunday_2am_london) is not None
    assert occurrence(window, "Europe/London", T0) is None
    snap = contract(C, windows=[window]).data
    assert isinstance(snap, ContractSnapshot)
    state, fx = run([firing(C, "a", sunday_2am_london)], snapshot=snap)
    assert outcomes(fx) == ["suppressed"]
    after = advance(state, snap, sunday_2am_london + timedelta(hours=3), CFG)
    assert outcomes(after) == ["opened"]


def test_not_monitored_customer_opens_nothing() -> None:
    snap = contract(C, tier="on_demand", monitored=False).data
    assert isinstance(snap, ContractSnapshot)
    _, fx = run([firing(C, "a", t(0))], snapshot=snap)
    assert not fx.events and outcomes(fx) == ["not_monitored"]
    assert fx.log[0].reason.startswith("not monitored")


def test_alerts_before_the_contract_wait_for_it() -> None:
    state = CustomerState(customer_id=C)
    fx = apply_event(state, None, firing(C, "a", t(0)), CFG)
    assert outcomes(fx) == ["pending"] and not fx.events
    snap = contract(C).data
    assert isinstance(snap, ContractSnapshot)
    fx = apply_contract(state, snap, CFG)
    assert outcomes(fx) == ["opened"]


# -- properties ------------------------------------------------------------------------

step = st.tuples(
    st.sampled_from(["fire", "resolve", "beat"]),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["d1", "d2", "d3"]),
    st.integers(min_value=1, max_value=400),
)


def build(steps: list[tuple[str, str, str, int]]) -> list[Envelope]:
    events, clock = [], 0
    for i, (kind, fp, device, gap) in enumerate(steps):
        clock += gap
        if kind == "fire":
            events.append(firing(C, fp, t(clock), device=device, id=f"e{i}"))
        elif kind == "resolve":
            events.append(resolved(C, fp, t(clock), device=device, id=f"e{i}"))
        else:
            events.append(heartbeat(C, device, t(clock)))
    return events


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=25))
def test_duplicate_deliveries_change_nothing(steps: list[tuple[str, str, str, int]]) -> None:
    events = build(steps)
    _, once = run(events)
    _, twice = run([e for ev in events for e in (ev, ev)])
    assert [e.id for e in twice.events] == [e.id for e in once.events]


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=25))
def test_outputs_are_deterministic_unique_and_one_ticket_per_incident(
    steps: list[tuple[str, str, str, int]],
) -> None:
    events = build(steps)
    _, first = run(events)
    _, again = run(events)
    assert [e.model_dump() for e in first.events] == [e.model_dump() for e in again.events]
    ids = [e.id for e in first.events]
    assert len(ids) == len(set(ids))
    opened = [e.data.incident_id for e in first.events if e.type.endswith("incident.opened.v1")]  # type: ignore[attr-defined]
    tickets = [e.data.incident_id for e in first.events if e.type.endswith("ticket.created.v1")]  # type: ignore[attr-defined]
    assert sorted(tickets) == sorted(i for i in opened if i in tickets)
    assert len(tickets) == len(set(tickets))
