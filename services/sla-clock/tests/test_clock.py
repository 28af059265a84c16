"""The clock state machine as a pure function of the ticket's log (injected `now`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from msp_events import decode, encode, make_event
from msp_events.tracing import TraceContext, continue_trace
from msp_events.types.sla import (
    SlaBreached,
    SlaClockCancelled,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaWarning,
)
from sla_clock.clock import replay
from sla_clock.emissions import SOURCE, Emission, built_envelope, envelope_of
from sla_clock.thresholds import escalation_for, step_schedule
from sla_clock.transitions import Transition

from .conftest import contract_version, london, snapshot

FRI_1755 = london(2026, 3, 6, 17, 55)
MON_0855 = london(2026, 3, 9, 8, 55)


def created(at: datetime, priority: str = "P3", device: str | None = None) -> Transition:
    return Transition("created", at, "e-created", priority=priority, device_id=device)  # type: ignore[arg-type]


def clock_of(out, metric: str, cycle: int = 1):  # type: ignore[no-untyped-def]
    return next(c for c in out.clocks if c.metric == metric and c.cycle == cycle)


def kinds(out, metric: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        type(e.data).__name__
        for e in out.emissions
        if metric is None or getattr(e.data, "metric", None) == metric
    ]


def test_friday_1755_one_business_hour_response_breaches_monday_0855() -> None:
    out = replay([created(FRI_1755)], snapshot(), ticket_id="T1", now=london(2026, 3, 9, 9))
    response = clock_of(out, "first_response")
    assert response.instant_of(response.target_s) == MON_0855
    breaches = [e for e in out.emissions if isinstance(e.data, SlaBreached)]
    assert [(b.data.metric, b.at) for b in breaches] == [("first_response", MON_0855)]
    warnings = [e.data for e in out.emissions if isinstance(e.data, SlaWarning)]
    assert [(w.threshold_percent, w.at) for w in warnings] == [
        (75, london(2026, 3, 9, 8, 40)),
        (90, london(2026, 3, 9, 8, 49)),
    ]
    assert warnings[0].escalation_level == 1 and warnings[1].escalation_level == 2
    assert breaches[0].data.escalation_level == 3
    assert "service_delivery_manager" in breaches[0].data.roles_to_inform


def test_before_the_deadline_thresholds_are_future_deadlines_not_events() -> None:
    out = replay([created(FRI_1755)], snapshot(), ticket_id="T1", now=FRI_1755)
    assert kinds(out) == ["SlaClockStarted", "SlaClockStarted"]
    response = out.deadlines[("first_response", 1)]
    assert [(d.kind, d.percent, d.due_at) for d in response] == [
        ("warning", 75, london(2026, 3, 9, 8, 40)),
        ("warning", 90, london(2026, 3, 9, 8, 49)),
        ("breach", 100, MON_0855),
    ]


def test_agent_reply_meets_first_response_and_customer_reply_does_not() -> None:
    log = [
        created(FRI_1755),
        Transition("comment", london(2026, 3, 9, 8, 10), "e-c1"),
        Transition("comment", london(2026, 3, 9, 8, 20), "e-c2", agent_reply=True),
    ]
    out = replay(log, snapshot(), ticket_id="T1", now=london(2026, 3, 10))
    response = clock_of(out, "first_response")
    assert response.state == "stopped" and response.stopped_at == london(2026, 3, 9, 8, 20)
    met = [e.data for e in out.emissions if isinstance(e.data, SlaMet)]
    assert [(m.metric, m.elapsed_business_seconds) for m in met] == [("first_response", 25 * 60)]
    assert clock_of(out, "resolution").state == "running"


def test_pause_while_waiting_on_customer_moves_the_deadline() -> None:
    start = london(2026, 3, 10, 9)  # Tuesday
    log = [
        created(start, "P2"),  # 30 min response, 480 min resolution, business hours
        Transition("comment", start + timedelta(minutes=5), "e-c", agent_reply=True),
        Transition("status", london(2026, 3, 10, 10), "e-s1", status="waiting_on_customer"),
        Transition("status", london(2026, 3, 11, 10), "e-s2", status="in_progress"),
    ]
    out = replay(log, snapshot(), ticket_id="T1", now=london(2026, 3, 11, 10))
    resolution = clock_of(out, "resolution")
    assert resolution.state == "running"
    assert resolution.elapsed(london(2026, 3, 11, 10)) == timedelta(hours=1)
    # 7 business hours left from Wednesday 10:00 -> Wednesday 17:00
    assert resolution.instant_of(resolution.target_s) == london(2026, 3, 11, 17)
    paused = [e.data for e in out.emissions if isinstance(e.data, SlaClockPaused)]
    resumed = [e.data for e in out.emissions if isinstance(e.data, SlaClockResumed)]
    assert [p.elapsed_business_seconds for p in paused] == [3600]
    assert [r.due_at for r in resumed] == [london(2026, 3, 11, 17)]
    assert [(p.start, p.end) for p in resolution.pauses] == [
        (london(2026, 3, 10, 10), london(2026, 3, 11, 10))
    ]


def test_priority_upgrade_keeps_elapsed_business_time() -> None:
    start = london(2026, 3, 10, 9)
    log = [
        created(start, "P3"),  # 60 min response
        Transition("priority", start + timedelta(minutes=20), "e-p", priority="P2"),  # 30 min
    ]
    out = replay(log, snapshot(), ticket_id="T1", now=start + timedelta(minutes=20))
    response = clock_of(out, "first_response")
    assert response.priority == "P2" and response.target_s == 30 * 60
    assert response.instant_of(response.target_s) == start + timedelta(minutes=30)


def test_priority_upgrade_to_24x7_keep_elapsed_vs_retroactive() -> None:
    friday = london(2026, 3, 6, 17, 50)
    saturday = london(2026, 3, 7, 10)
    log = [created(friday, "P3"), Transition("priority", saturday, "e-p", priority="P1")]
    keep = replay(log, snapshot(), ticket_id="T1", now=saturday)
    # 10 business minutes counted on Friday; P1 (15 min, 24x7) runs out 5 min later
    assert clock_of(keep, "first_response").instant_of(15 * 60) == saturday + timedelta(minutes=5)
    version = contract_version()
    retro_policy = version.sla.model_copy(update={"priority_change_rule": "retroactive"})
    retro = replay(
        log,
        snapshot(version.model_copy(update={"sla": retro_policy})),
        ticket_id="T1",
        now=saturday,
    )
    # measured on 24x7 from Friday 17:50 both targets (15 min, 4 h) were long gone:
    # breached at the change, not before it (the target did not apply before)
    breach = [e for e in retro.emissions if isinstance(e.data, SlaBreached)]
    assert [(b.data.metric, b.at) for b in breach] == [
        ("first_response", saturday),
        ("resolution", saturday),
    ]
    assert not any(isinstance(e.data, SlaBreached) for e in keep.emissions)


def test_reopen_starts_a_new_resolution_cycle_and_keeps_the_old_outcome() -> None:
    start = london(2026, 3, 10, 9)
    log = [
        created(start, "P2"),
        Transition("resolved", london(2026, 3, 10, 9, 20), "e-r"),
        Transition("reopened", london(2026, 3, 10, 11), "e-o"),
    ]
    out = replay(log, snapshot(), ticket_id="T1", now=london(2026, 3, 10, 11))
    first = clock_of(out, "resolution", 1)
    second = clock_of(out, "resolution", 2)
    assert first.state == "stopped" and second.state == "running"
    assert second.started_at == london(2026, 3, 10, 11)
    # resolution came before any reply: first response stopped (met) at resolution too
    assert clock_of(out, "first_response").stopped_at == london(2026, 3, 10, 9, 20)
    met = sorted((e.data.metric, e.data.cycle) for e in out.emissions if isinstance(e.data, SlaMet))
    assert met == [("first_response", 1), ("resolution", 1)]
    started = [
        (e.data.metric, e.data.cycle) for e in out.emissions if isinstance(e.data, SlaClockStarted)
    ]
    assert ("resolution", 2) in started


def test_same_instant_reply_and_resolve_meets_first_response_by_the_reply() -> None:
    at = london(2026, 3, 10, 9, 10)
    log = [
        Transition("resolved", at, "e-0"),  # arrives first, sorts after the comment
        Transition("comment", at, "e-1", agent_reply=True),
        created(london(2026, 3, 10, 9)),
    ]
    out = replay(log, snapshot(), ticket_id="T1", now=at)
    assert clock_of(out, "first_response").stop_reason == "first public agent reply"


def test_excluded_asset_gets_no_clock_and_a_recorded_reason() -> None:
    out = replay(
        [created(FRI_1755, device="ws-legacy-xp01")], snapshot(), ticket_id="T1", now=FRI_1755
    )
    assert out.clocks == []
    assert out.no_clock_reason is not None and "ws-legacy-xp01" in out.no_clock_reason
    assert kinds(out) == ["SlaClockCancelled", "SlaClockCancelled"]
    assert all("below minimum standard" in e.data.reason for e in out.emissions)  # type: ignore[attr-defined]


def test_no_contract_and_no_target_are_reasons_not_clocks() -> None:
    assert replay([created(FRI_1755)], None, ticket_id="T", now=FRI_1755).no_clock_reason == (
        "no contract in force when the ticket was opened"
    )
    early = replay([created(london(2025, 6, 1))], snapshot(), ticket_id="T", now=FRI_1755)
    assert early.clocks == [] and early.no_clock_reason is not None
    version = contract_version()
    p3_only = version.sla.model_copy(update={"targets": [version.sla.targets[2]]})
    out = replay(
        [created(FRI_1755, "P4")],
        snapshot(version.model_copy(update={"sla": p3_only})),
        ticket_id="T",
        now=FRI_1755,
    )
    assert out.clocks == [] and out.no_clock_reason == "contract has no SLA target for P4"


def test_downgrade_to_a_priority_without_target_cancels() -> None:
    version = contract_version()
    no_p5 = version.sla.model_copy(update={"targets": version.sla.targets[:4]})
    log = [created(FRI_1755), Transition("priority", MON_0855, "e-p", priority="P5")]
    out = replay(
        log, snapshot(version.model_copy(update={"sla": no_p5})), ticket_id="T", now=FRI_1755
    )
    assert {c.state for c in out.clocks} == {"cancelled"}
    assert sum(isinstance(e.data, SlaClockCancelled) for e in out.emissions) == 2


def test_met_exactly_at_the_target_is_met() -> None:
    start = london(2026, 3, 10, 9)
    log = [created(start), Transition("comment", start + timedelta(hours=1), "e", agent_reply=True)]
    out = replay(log, snapshot(), ticket_id="T", now=start + timedelta(days=1))
    assert not any(
        isinstance(e.data, SlaBreached) and e.data.metric == "first_response" for e in out.emissions
    )
    assert any(
        isinstance(e.data, SlaMet) and e.data.metric == "first_response" for e in out.emissions
    )


def test_thresholds_and_escalation_rule() -> None:
    plan = contract_version().escalation_plan
    steps = step_schedule(warnings_percent=[75, 90], plan=plan, target_seconds=60)
    assert [(s.percent, s.mark_s, s.kind) for s in steps] == [
        (75, 45, "warning"),
        (90, 54, "warning"),
        (100, 60, "breach"),
    ]
    assert escalation_for(plan, 50) == (0, [])
    level, roles = escalation_for(plan, 90)
    assert level == 2
    assert roles == ["service_desk_lead", "service_delivery_manager", "account_manager"]


STORY = [
    created(london(2026, 3, 10, 9), "P3"),
    Transition("status", london(2026, 3, 10, 9, 30), "e-1", status="waiting_on_customer"),
    Transition("status", london(2026, 3, 10, 11), "e-2", status="in_progress"),
    Transition("priority", london(2026, 3, 10, 11), "e-3", priority="P2"),
    Transition("comment", london(2026, 3, 10, 11, 5), "e-4", agent_reply=True),
    Transition("resolved", london(2026, 3, 11, 12), "e-5"),
    Transition("reopened", london(2026, 3, 11, 15), "e-6"),
    Transition("status", london(2026, 3, 12, 9), "e-7", status="pending_vendor"),
]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, len(STORY)))
def test_arrival_order_does_not_matter(seed: int, cut: int) -> None:
    """A late event replays to the same clocks and the same event ids as in-order."""
    log = STORY[:cut]
    shuffled = log[:]
    random.Random(seed).shuffle(shuffled)
    now = london(2026, 3, 20)
    a = replay(log, snapshot(), ticket_id="T", now=now)
    b = replay(shuffled, snapshot(), ticket_id="T", now=now)
    assert [(e.event_id, e.at, e.data) for e in a.emissions] == [
        (e.event_id, e.at, e.data) for e in b.emissions
    ]
    assert [(c.metric, c.cycle, c.state, c.stopped_at) for c in a.clocks] == [
        (c.metric, c.cycle, c.state, c.stopped_at) for c in b.clocks
    ]


@settings(max_examples=60, deadline=None)
@given(minutes=st.integers(0, 5 * 24 * 60), now_minutes=st.integers(0, 10 * 24 * 60))
def test_elapsed_never_exceeds_wall_time_and_threshold_events_come_in_order(
    minutes: int, now_minutes: int
) -> None:
    start = london(2026, 3, 6, 12)
    pause = start + timedelta(minutes=minutes)
    log = [created(start), Transition("status", pause, "e", status="waiting_on_customer")]
    now = start + timedelta(minutes=now_minutes)
    out = replay(log, snapshot(), ticket_id="T", now=now)
    for clock in out.clocks:
        assert clock.elapsed(now) <= max(now, start) - start
    for metric in ("first_response", "resolution"):
        times = [e.at for e in out.emissions if getattr(e.data, "metric", None) == metric]
        assert times == sorted(times)


def test_dispatch_rule_priority_then_tier_then_time_left() -> None:
    from sla_clock.queue import dispatch_key

    soon, later = london(2026, 3, 10, 9), london(2026, 3, 10, 12)
    rows = {
        "p2-ondemand-soon": ("P2", "on_demand", soon),
        "p1-managed-later": ("P1", "managed", later),
        "p2-vip-later": ("P2", "managed_vip", later),
        "p2-managed-soon": ("P2", "managed", soon),
        "p2-managed-later": ("P2", "managed", later),
        "p2-managed-paused": ("P2", "managed", None),
    }
    order = sorted(
        rows,
        key=lambda t: dispatch_key(
            priority=rows[t][0],
            tier=rows[t][1],
            next_due_at=rows[t][2],
            opened_at=soon,
            ticket_id=t,
        ),
    )
    assert order == [
        "p1-managed-later",
        "p2-vip-later",
        "p2-managed-soon",
        "p2-managed-later",
        "p2-managed-paused",
        "p2-ondemand-soon",
    ]


def test_every_emission_kind_validates_and_encodes_like_make_event() -> None:
    """Every kind of SLA event the replay builds survives re-validation, and its
    envelope (`emissions.envelope_of`) encodes byte for byte like `make_event`'s and
    decodes back to it (instants are UTC in the service: transitions come from decoded
    events or from Postgres)."""
    utc = lambda *a: london(*a).astimezone(UTC)  # noqa: E731
    log = [
        created(utc(2026, 3, 10, 9)),
        Transition("comment", utc(2026, 3, 10, 9, 10), "e-0", agent_reply=True),
        Transition("status", utc(2026, 3, 10, 9, 30), "e-1", status="waiting_on_customer"),
        Transition("status", utc(2026, 3, 10, 11), "e-2", status="in_progress"),
        Transition("priority", utc(2026, 3, 10, 11), "e-3", priority="P2"),
        Transition("resolved", utc(2026, 3, 11, 12), "e-5"),
        Transition("reopened", utc(2026, 3, 11, 15), "e-6"),
        Transition("priority", utc(2026, 3, 11, 16), "e-7", priority="P5"),
    ]
    version = contract_version()
    no_p5 = snapshot(
        version.model_copy(
            update={"sla": version.sla.model_copy(update={"targets": version.sla.targets[:4]})}
        )
    )
    emissions = [
        *replay(log[:1], snapshot(), ticket_id="T9", now=utc(2026, 3, 20)).emissions,
        *replay(log, snapshot(), ticket_id="T9", now=utc(2026, 3, 20)).emissions,
        *replay(log, no_p5, ticket_id="T9", now=utc(2026, 3, 20)).emissions,
    ]
    built = {type(e.data).__name__ for e in emissions}
    assert built >= {
        "SlaClockStarted",
        "SlaClockPaused",
        "SlaClockResumed",
        "SlaMet",
        "SlaWarning",
        "SlaBreached",
        "SlaClockCancelled",
    }
    parent = TraceContext.parse("00-" + "ab" * 16 + "-" + "cd" * 8 + "-01", "k=v")
    for e in emissions:
        for trace in (None, parent):
            assert_built_like_validated(e, customer_id="cust-1", parent=trace)


def assert_built_like_validated(
    e: Emission, *, customer_id: str, parent: TraceContext | None
) -> None:
    """The payload validates unchanged, and the envelope built without validation
    (`built_envelope`) is the one `make_event` + `continue_trace` validate: equal, the
    same fields set, the same bytes."""
    validated = type(e.data).model_validate(e.data.model_dump())
    assert validated == e.data
    assert validated.model_fields_set == e.data.model_fields_set
    assert validated.model_dump_json() == e.data.model_dump_json()
    fast = built_envelope(e, customer_id=customer_id, parent=parent)
    slow = continue_trace(
        make_event(
            validated,
            customer_id=customer_id,
            source=SOURCE,
            time=e.at,
            subject=str(getattr(validated, "ticket_id", "")) or None,
            id=e.event_id,
        ),
        parent,
    )
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert encode(fast) == encode(slow)
    assert encode(fast) == encode(envelope_of(e, customer_id=customer_id)) or parent is not None
    assert decode(encode(fast).value) == slow


@settings(max_examples=150, deadline=None)
@given(
    ticket=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,150}", fullmatch=True),
    customer=st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True),
    opened=st.datetimes(
        min_value=datetime(2026, 1, 2), max_value=datetime(2099, 12, 31, 23, 59, 59)
    ).map(lambda d: d.replace(tzinfo=UTC)),
    priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
    traced=st.booleans(),
)
def test_built_events_equal_validated_ones(
    ticket: str, customer: str, opened: datetime, priority: str, traced: bool
) -> None:
    """Property: the clock-started events and envelopes the consumer builds without
    validation (`trusted`) equal, and encode byte for byte like, the validated ones;
    near the end of the contract's window the validation still refuses (as before)."""
    parent = TraceContext.new() if traced else None
    refused = None
    try:
        out = replay([created(opened, priority)], snapshot(), ticket_id=ticket, now=opened)
    except ValidationError as exc:
        refused = str(exc)
    if refused is not None:  # a deadline past the window: refused, as validation did
        assert opened > datetime(2099, 11, 1, tzinfo=UTC)
        assert "instant out of range" in refused
        return
    assert kinds(out) == ["SlaClockStarted", "SlaClockStarted"]
    for e in out.emissions:
        assert_built_like_validated(e, customer_id=customer, parent=parent)
