"""Every step of the escalation plan, above 100 % too, as a pure function of the log:
the schedule of steps (`thresholds.step_schedule`) and when the replay announces each
one (`clock.replay`), with pauses, stops and corrections."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events.types.contracts import EscalationStep
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaOutcomeCorrected, SlaWarning
from sla_clock.clock import TicketOutcome, replay, threshold_event
from sla_clock.corrections import reconcile
from sla_clock.thresholds import BREACH_PERCENT, escalation_for, step_schedule
from sla_clock.transitions import Transition

from .conftest import contract_version, escalating_contract, london, snapshot

OPENED = london(2026, 11, 3, 9)  # a Tuesday, GMT; P2 resolution: 8 business hours
STEPS = {  # resolution clock of a P2 ticket left alone (office hours 08:00-18:00)
    75: london(2026, 11, 3, 15),
    90: london(2026, 11, 3, 16, 12),
    100: london(2026, 11, 3, 17),
    150: london(2026, 11, 4, 11),  # 12 business hours: 9 on Tuesday, 3 on Wednesday
    200: london(2026, 11, 4, 15),
}
CREATED = Transition("created", OPENED, "e-created", priority="P2")
REPLY = Transition("comment", london(2026, 11, 3, 9, 10), "e-reply", agent_reply=True)


def resolution_steps(out: TicketOutcome) -> list[tuple[int, datetime]]:
    """(percent, instant) of the resolution clock's warnings, breach and escalations."""
    found = []
    for e in out.emissions:
        d = e.data
        if getattr(d, "metric", None) != "resolution":
            continue
        if isinstance(d, SlaWarning | SlaEscalated):
            found.append((d.threshold_percent, d.at))
        elif isinstance(d, SlaBreached):
            found.append((BREACH_PERCENT, d.breached_at))
    return found


def test_every_step_is_a_deadline_while_the_ticket_is_quiet() -> None:
    out = replay([CREATED, REPLY], escalating_contract(), ticket_id="T", now=REPLY.at)
    deadlines = out.deadlines[("resolution", 1)]
    assert [(d.kind, d.percent, d.due_at) for d in deadlines] == [
        ("warning", 75, STEPS[75]),
        ("warning", 90, STEPS[90]),
        ("breach", 100, STEPS[100]),
        ("escalation", 150, STEPS[150]),
        ("escalation", 200, STEPS[200]),
    ]


def test_a_step_above_100_is_announced_with_its_level_roles_deadline_and_zone() -> None:
    now = london(2026, 11, 4, 12)
    out = replay([CREATED, REPLY], escalating_contract(), ticket_id="T", now=now)
    assert resolution_steps(out) == [(p, STEPS[p]) for p in (75, 90, 100, 150)]
    escalated = next(e.data for e in out.emissions if isinstance(e.data, SlaEscalated))
    assert escalated.escalation_level == 4
    assert escalated.roles_to_inform == ["account_manager", "service_delivery_manager"]
    assert escalated.due_at == STEPS[100] and escalated.timezone == "Europe/London"
    assert escalated.elapsed_business_seconds == 12 * 3600
    # the 200 % step is still ahead
    assert [d.percent for d in out.deadlines[("resolution", 1)]] == [200]


def test_the_same_step_from_the_replay_and_the_scheduler_has_one_id() -> None:
    early = replay([CREATED, REPLY], escalating_contract(), ticket_id="T", now=REPLY.at)
    late = replay([CREATED, REPLY], escalating_contract(), ticket_id="T", now=STEPS[150])
    fired = next(e for e in late.emissions if isinstance(e.data, SlaEscalated))
    clock = next(c for c in early.clocks if c.metric == "resolution")
    assert threshold_event(clock, 150, STEPS[150]) == fired


def test_waiting_on_the_customer_moves_the_step_by_the_business_time_paused() -> None:
    wait = Transition("status", london(2026, 11, 4, 9), "e-w", status="waiting_on_customer")
    back = Transition("status", london(2026, 11, 4, 10), "e-b", status="in_progress")
    out = replay([CREATED, REPLY, wait, back], escalating_contract(), ticket_id="T", now=back.at)
    due = {d.percent: d.due_at for d in out.deadlines[("resolution", 1)]}
    assert due == {150: london(2026, 11, 4, 12), 200: london(2026, 11, 4, 16)}


def test_a_paused_clock_announces_no_step_and_schedules_none() -> None:
    wait = Transition("status", london(2026, 11, 4, 9), "e-w", status="waiting_on_customer")
    now = london(2026, 11, 5, 12)
    out = replay([CREATED, REPLY, wait], escalating_contract(), ticket_id="T", now=now)
    assert [p for p, _ in resolution_steps(out)] == [75, 90, 100]
    assert ("resolution", 1) not in out.deadlines


def test_resolved_after_the_breach_but_before_150_escalates_no_further() -> None:
    done = Transition("resolved", london(2026, 11, 4, 10), "e-r")
    out = replay([CREATED, REPLY, done], escalating_contract(), ticket_id="T", now=STEPS[200])
    assert [p for p, _ in resolution_steps(out)] == [75, 90, 100]
    assert not out.deadlines


def test_a_late_resolve_withdraws_a_published_escalation() -> None:
    contract, now = escalating_contract(), london(2026, 11, 4, 12)
    first = replay([CREATED, REPLY], contract, ticket_id="T", now=now)
    said = reconcile({}, first.emissions, now=now, complete=True, identities={}).said
    done = Transition("resolved", london(2026, 11, 4, 10, 30), "e-r")
    second = replay([CREATED, REPLY, done], contract, ticket_id="T", now=now)
    fixes = reconcile(
        said,
        second.emissions,
        now=now,
        complete=True,
        identities={c.clock_id: c.identity() for c in second.clocks},
        because_of=["e-r"],
    ).publish
    fix = next(e.data for e in fixes if isinstance(e.data, SlaOutcomeCorrected))
    assert (fix.statement, fix.threshold_percent) == ("escalation", 150)
    assert (fix.was_at, fix.now_at) == (STEPS[150], None)
    assert (fix.outcome, fix.outcome_at) == ("breached", STEPS[100])  # the breach stands


def test_a_plan_step_below_100_that_is_no_warning_threshold_is_announced() -> None:
    base = contract_version().escalation_plan
    plan = [EscalationStep(threshold_percent=50, level=1, roles_to_inform=["dispatcher"])]
    plan += [s.model_copy(update={"level": s.level + 1}) for s in base]
    contract = snapshot(contract_version(escalation_plan=plan))
    out = replay([CREATED, REPLY], contract, ticket_id="T", now=REPLY.at)
    percents = [(d.percent, d.kind) for d in out.deadlines[("resolution", 1)]]
    assert percents == [(50, "warning"), (75, "warning"), (90, "warning"), (100, "breach")]


def test_an_escalation_before_a_priority_change_stands() -> None:
    """P1 (4 h, 24x7) breached at 13:00 and escalated at 15:00; re-prioritised at 15:01:
    both stand (found by the in-time property test of test_corrections.py)."""
    p1 = Transition("created", OPENED, "e-created", priority="P1")
    change = Transition("priority", london(2026, 11, 3, 15, 1), "e-p", priority="P2")
    out = replay([p1, REPLY, change], escalating_contract(), ticket_id="T", now=change.at)
    assert resolution_steps(out) == [
        (75, london(2026, 11, 3, 12)),
        (90, london(2026, 11, 3, 12, 36)),
        (100, london(2026, 11, 3, 13)),
        (150, london(2026, 11, 3, 15)),
    ]
    assert ("resolution", 1) not in out.deadlines  # breached before: nothing more


# -- properties --------------------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> list[EscalationStep]:
    percents = sorted(draw(st.sets(st.integers(1, 1000), max_size=6)))
    return [
        EscalationStep(
            threshold_percent=p,
            level=n + 1,
            roles_to_inform=[f"role-{p}"],
            informed=draw(st.lists(st.sampled_from(["a", "b", f"role-{p}"]), max_size=2)),
        )
        for n, p in enumerate(percents)
    ]


@settings(max_examples=200, deadline=None)
@given(
    warnings=st.lists(st.integers(1, 99), unique=True, max_size=5).map(sorted),
    plan=plans(),
    target=st.integers(1, 366 * 24 * 60).map(lambda minutes: minutes * 60),
)
def test_step_schedule(warnings: list[int], plan: list[EscalationStep], target: int) -> None:
    steps = step_schedule(warnings_percent=warnings, plan=plan, target_seconds=target)
    percents = [s.percent for s in steps]
    # every warning, every plan step and the breach, each once, ascending
    assert percents == sorted({*warnings, *(s.threshold_percent for s in plan), 100})
    assert [s.mark_s for s in steps] == sorted(s.mark_s for s in steps)
    for s in steps:
        assert s.mark_s == target * s.percent // 100
        assert s.kind == (
            "warning" if s.percent < 100 else "breach" if s.percent == 100 else "escalation"
        )
        level, roles = escalation_for(plan, s.percent)
        assert (s.level, list(s.roles)) == (level, roles) and len(set(s.roles)) == len(s.roles)
    for step in plan:  # a plan step is announced at its own percent, to its own level
        assert next(s for s in steps if s.percent == step.threshold_percent).level == step.level
    assert next(s for s in steps if s.kind == "breach").mark_s == target


@settings(max_examples=150, deadline=None)
@given(
    toggles=st.lists(st.integers(1, 5 * 24 * 60), max_size=6, unique=True).map(sorted),
    now_minutes=st.integers(0, 8 * 24 * 60),
)
def test_each_step_is_announced_or_scheduled_exactly_once(
    toggles: list[int], now_minutes: int
) -> None:
    """Any waits on the customer, any "now": a running clock's steps are each either
    announced (at or before now) or a deadline (after now), once, in step order; a
    paused clock's announced steps are the first ones and it has no deadline."""
    log = [CREATED, REPLY]
    for n, minutes in enumerate(toggles):
        status = "waiting_on_customer" if n % 2 == 0 else "in_progress"
        at = OPENED + timedelta(minutes=minutes)
        log.append(Transition("status", at, f"e-{n}", status=status))  # type: ignore[arg-type]
    now = OPENED + timedelta(minutes=now_minutes)
    log = [t for t in log if t.at <= now]
    out = replay(log, escalating_contract(), ticket_id="T", now=now)
    clock = next(c for c in out.clocks if c.metric == "resolution")
    announced = resolution_steps(out)
    due = [(d.percent, d.due_at) for d in out.deadlines.get(("resolution", 1), [])]
    everything = [s.percent for s in clock.steps()]
    assert all(at <= now for _, at in announced) and all(at > now for _, at in due)
    together = announced + due
    assert [at for _, at in together] == sorted(at for _, at in together)
    if clock.state == "running":
        assert [p for p, _ in together] == everything
    else:
        assert not due and [p for p, _ in announced] == everything[: len(announced)]
