"""Corrections of published outcomes (`corrections.reconcile`), pure: what the topic
says, folded by the consumers' rule, ends equal to the replay of the whole history,
whatever the arrival order and batching of the events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events.base import EventData
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.sla import SlaBreached, SlaMet, SlaOutcomeCorrected, SlaWarning
from sla_clock.clock import TicketOutcome, replay, threshold_event
from sla_clock.corrections import (
    Reconciled,
    Said,
    Slot,
    correction_id,
    fold,
    outcome_of,
    reconcile,
    statement_of,
)
from sla_clock.emissions import Emission
from sla_clock.transitions import Transition

from .conftest import escalating_contract, london, snapshot

OPENED = london(2026, 11, 3, 9)  # a Tuesday; London is on GMT
DECEMBER = london(2026, 12, 1, 12)


def created(priority: str = "P2") -> Transition:
    return Transition("created", OPENED, "e-created", priority=priority)  # type: ignore[arg-type]


REPLY = Transition("comment", london(2026, 11, 3, 9, 20), "e-reply", agent_reply=True)
WAITING = Transition("status", london(2026, 11, 3, 10), "e-wait", status="waiting_on_customer")
WORKING = Transition("status", london(2026, 11, 4, 10), "e-work", status="in_progress")


class Topic:
    """A stand-in for the SLA topic plus sla-clock's `published` and `emitted` tables."""

    def __init__(self, contract: ContractSnapshot | None = None) -> None:
        self.contract = contract or snapshot()
        self.said: dict[Slot, Said] = {}
        self.emitted: set[str] = set()
        self.events: list[tuple[str, EventData]] = []

    def apply(self, result: Reconciled) -> list[EventData]:
        fresh = []
        for e in result.publish:
            if e.event_id in self.emitted:
                # only lifecycle events repeat (a replay re-derives them); a statement
                # or a correction is never silently dropped
                assert statement_of(e.data) is None and not isinstance(
                    e.data, SlaOutcomeCorrected
                ), e
                continue
            self.emitted.add(e.event_id)
            self.events.append((e.event_id, e.data))
            fresh.append(e.data)
        self.said.update(result.said)
        return fresh

    def replayed(
        self, log: Sequence[Transition], now: datetime, because: Sequence[str] = ()
    ) -> tuple[TicketOutcome, list[EventData]]:
        out = replay(list(log), self.contract, ticket_id="T", now=now)
        result = reconcile(
            self.said,
            out.emissions,
            now=now,
            complete=True,
            identities={c.clock_id: c.identity() for c in out.clocks},
            because_of=because,
        )
        return out, self.apply(result)

    def scheduler(self, out: TicketOutcome, now: datetime) -> list[EventData]:
        """Fire the deadlines of the last replay that are due at `now`, as fire_due."""
        fired: list[Emission] = []
        for clock in out.clocks:
            for d in out.deadlines.get((clock.metric, clock.cycle), []):
                if d.due_at <= now:
                    fired.append(threshold_event(clock, d.percent, d.due_at))
        ids = {c.clock_id: c.identity() for c in out.clocks}
        return self.apply(reconcile(self.said, fired, now=now, complete=False, identities=ids))


def api_outcome(out: TicketOutcome, now: datetime) -> dict[str, tuple[str, datetime | None]]:
    """Each clock's outcome as the ticket API derives it (service.clock_view)."""
    found: dict[str, tuple[str, datetime | None]] = {}
    for c in out.clocks:
        breached = c.breached_at()
        if c.state == "cancelled":
            found[c.clock_id] = ("cancelled", c.stopped_at)
        elif breached is not None and breached <= now:
            found[c.clock_id] = ("breached", breached)
        elif c.state == "stopped":
            found[c.clock_id] = ("met", c.stopped_at)
        else:
            found[c.clock_id] = ("pending", None)
    return found


# -- stories ---------------------------------------------------------------------------


def test_a_late_reply_withdraws_the_breach_and_brings_the_met() -> None:
    topic = Topic()
    _, first = topic.replayed([created()], DECEMBER)
    breach = next(d for d in first if isinstance(d, SlaBreached) and d.metric == "first_response")
    assert breach.breached_at == london(2026, 11, 3, 9, 30)

    _, second = topic.replayed([created(), REPLY], DECEMBER, because=["e-reply"])
    met = [d for d in second if isinstance(d, SlaMet)]
    assert [(m.metric, m.met_at) for m in met] == [("first_response", REPLY.at)]
    fixes = [d for d in second if isinstance(d, SlaOutcomeCorrected)]
    withdrawn = next(f for f in fixes if f.statement == "breach")
    assert (
        withdrawn.corrects_event_id == topic.events[[d for _, d in topic.events].index(breach)][0]
    )
    assert (withdrawn.was_at, withdrawn.now_at) == (breach.breached_at, None)
    assert (withdrawn.outcome, withdrawn.outcome_at) == ("met", REPLY.at)
    assert withdrawn.because_of == ["e-reply"] and withdrawn.corrected_at == DECEMBER
    # the 75 % and 90 % warnings (09:22:30, 09:27) came after the reply: withdrawn too
    assert sorted(f.threshold_percent or 0 for f in fixes if f.statement == "warning") == [75, 90]


def test_a_late_pause_moves_the_resolution_breach_a_day() -> None:
    topic = Topic()
    topic.replayed([created(), REPLY], DECEMBER)
    topic.replayed([created(), REPLY, WAITING], DECEMBER)  # paused since: not breached
    out, third = topic.replayed([created(), REPLY, WAITING, WORKING], DECEMBER)
    fix = next(d for d in third if isinstance(d, SlaOutcomeCorrected) and d.statement == "breach")
    assert (fix.was_at, fix.now_at) == (None, london(2026, 11, 4, 17))
    assert (fix.outcome, fix.outcome_at) == ("breached", london(2026, 11, 4, 17))
    outcomes, _ = fold(topic.events)
    assert outcomes == {k: v for k, v in api_outcome(out, DECEMBER).items() if v[0] != "pending"}
    assert outcomes["clk-T-resolution-1"] == ("breached", london(2026, 11, 4, 17))


def test_nothing_is_corrected_when_events_arrive_in_time() -> None:
    topic = Topic()
    log: list[Transition] = []
    for t in [created(), REPLY, WAITING, WORKING]:
        log.append(t)
        out, _ = topic.replayed(log, t.at)
    fired = topic.scheduler(out, DECEMBER)  # resolution: 75 %, 90 %, breach (Wed 17:00)
    assert not [e for _, e in topic.events if isinstance(e, SlaOutcomeCorrected)]
    assert [type(d).__name__ for d in fired] == ["SlaWarning", "SlaWarning", "SlaBreached"]


def test_a_warning_or_breach_before_a_priority_change_stands_in_order() -> None:
    """Escalated after its 75 % warning, downgraded after its breach: in order, nothing
    is corrected, and one replay of the whole history states the same."""
    log = [created("P3")]  # first response: 60 business min, due 10:00
    topic = Topic()
    out, _ = topic.replayed(log, OPENED)
    topic.scheduler(out, london(2026, 11, 3, 9, 50))  # 75 % at 09:45 (P3)
    up = Transition("priority", london(2026, 11, 3, 9, 50), "e-up", priority="P2")
    out, _ = topic.replayed([*log, up], up.at)  # P2 (30 min): breached at 09:50
    topic.scheduler(out, london(2026, 11, 3, 10))
    down = Transition("priority", london(2026, 11, 3, 10), "e-down", priority="P4")
    out, _ = topic.replayed([*log, up, down], down.at)
    reply = Transition("comment", london(2026, 11, 3, 10, 5), "e-r", agent_reply=True)
    _, last = topic.replayed([*log, up, down, reply], reply.at)
    assert not [e for _, e in topic.events if isinstance(e, SlaOutcomeCorrected)]
    assert not [d for d in last if isinstance(d, SlaMet) and d.metric == "first_response"]
    response = "clk-T-first_response-1"
    assert {
        (s.statement, s.percent, s.priority): k.at
        for s, k in topic.said.items()
        if s.clock_id == response
    } == {
        ("warning", 75, "P3"): london(2026, 11, 3, 9, 45),
        # P2's thresholds were all behind it at the upgrade: crossed at the change
        ("warning", 75, "P2"): london(2026, 11, 3, 9, 50),
        ("warning", 90, "P2"): london(2026, 11, 3, 9, 50),
        ("breach", 0, ""): london(2026, 11, 3, 9, 50),
    }
    whole = replay([reply, down, up, *log], snapshot(), ticket_id="T", now=DECEMBER)
    assert api_outcome(whole, DECEMBER)[response] == ("breached", london(2026, 11, 3, 9, 50))


def test_the_scheduler_restates_a_withdrawn_breach_as_a_correction() -> None:
    """Wall time: the breach was published, a late pause moved it into the future (the
    replay withdraws it), then the new deadline passes."""
    topic = Topic()
    before = london(2026, 11, 3, 17, 30)
    topic.replayed([created(), REPLY], before)
    out, _ = topic.replayed([created(), REPLY, WAITING, WORKING], before)
    fired = topic.scheduler(out, london(2026, 11, 4, 18))
    fix = next(d for d in fired if isinstance(d, SlaOutcomeCorrected) and d.statement == "breach")
    assert (fix.was_at, fix.now_at, fix.outcome) == (None, london(2026, 11, 4, 17), "breached")
    assert not [d for d in fired if isinstance(d, SlaBreached)]  # its id was used: restated


def test_correction_ids_are_deterministic_and_never_repeat_along_a_chain() -> None:
    moved = london(2026, 11, 4, 17)
    assert correction_id("e-1", moved) == correction_id("e-1", moved)
    chain = ["e-1"]
    for now_at in [moved, None, moved, None]:
        chain.append(correction_id(chain[-1], now_at))
    assert len(set(chain)) == len(chain)


def test_outcome_of_prefers_breach_then_met_then_cancellation() -> None:
    at = london(2026, 11, 3, 9)
    state: dict[Slot, datetime | None] = {Slot("c", "met"): at, Slot("c", "warning", 75, "P2"): at}
    assert outcome_of(state, "c") == ("met", at)
    assert outcome_of({**state, Slot("c", "breach"): at}, "c") == ("breached", at)
    assert outcome_of({Slot("c", "breach"): None}, "c") == ("pending", None)


# -- any history, any arrival -----------------------------------------------------------

KINDS = st.sampled_from(
    ["reply", "comment", "waiting", "working", "priority", "resolved", "reopened"]
)


@st.composite
def histories(draw: st.DrawFn) -> list[Transition]:
    log = [created(draw(st.sampled_from(["P1", "P2", "P3", "P4"])))]
    for n in range(draw(st.integers(0, 7))):
        at = OPENED + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)))
        kind, eid = draw(KINDS), f"e-{n}"
        if kind in ("reply", "comment"):
            log.append(Transition("comment", at, eid, agent_reply=kind == "reply"))
        elif kind in ("waiting", "working"):
            status = "waiting_on_customer" if kind == "waiting" else "in_progress"
            log.append(Transition("status", at, eid, status=status))  # type: ignore[arg-type]
        elif kind == "priority":
            priority = draw(st.sampled_from(["P1", "P2", "P3", "P4"]))
            log.append(Transition("priority", at, eid, priority=priority))  # type: ignore[arg-type]
        else:
            log.append(Transition(kind, at, eid))  # type: ignore[arg-type]
    return log


@settings(max_examples=150, deadline=None)
@given(log=histories(), data=st.data())
def test_topic_folded_with_corrections_equals_the_whole_replay(
    log: list[Transition], data: st.DataObject
) -> None:
    """For any history, arrival order, batching and "now" of each batch (wall or event
    time, the scheduler firing in between): the published events, folded by the
    consumers' rule, say what one replay of the whole history says, and what the API
    says. The plan has steps above 100 % (escalations are statements too)."""
    arrival = data.draw(st.permutations(log))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(log)), max_size=len(log))) | {len(log)})
    offsets = data.draw(
        st.lists(st.integers(0, 40 * 24 * 60), min_size=len(cuts), max_size=len(cuts))
    )
    nows = [OPENED + timedelta(minutes=m) for m in sorted(offsets)]
    final = max(nows[-1], max(t.at for t in log))
    nows[-1] = final
    contract = escalating_contract()
    topic, start, out = Topic(contract), 0, None
    for cut, now in zip(cuts, nows, strict=True):
        if out is not None:
            topic.scheduler(out, now)
        batch = arrival[start:cut]
        out, _ = topic.replayed(arrival[:cut], now, because=[t.event_id for t in batch])
        start = cut

    whole = replay(log, contract, ticket_id="T", now=final)
    truth: dict[Slot, datetime | None] = {}
    for e in whole.emissions:
        found = statement_of(e.data)
        if found is not None:
            truth[found[0]] = found[1]
    outcomes, slots = fold(topic.events)
    assert {s: at for s, at in slots.items() if at is not None} == truth
    api = api_outcome(whole, final)
    assert {c: o for c, o in outcomes.items() if o[0] != "pending"} == {
        c: o for c, o in api.items() if o[0] != "pending"
    }
    # the catalogue's promise: no met beside a breach still standing, per clock
    for clock in api:
        assert not (slots.get(Slot(clock, "met")) and slots.get(Slot(clock, "breach")))


def test_warnings_and_breaches_from_the_replay_and_the_scheduler_are_one_statement() -> None:
    """The replay (catch-up) and the scheduler (on time) state a threshold with the
    same id, so whichever publishes it first, the other adds nothing."""
    topic = Topic()
    out, _ = topic.replayed([created()], OPENED)
    fired = topic.scheduler(out, london(2026, 11, 3, 9, 31))
    assert [type(d).__name__ for d in fired] == ["SlaWarning", "SlaWarning", "SlaBreached"]
    _, again = topic.replayed([created()], london(2026, 11, 3, 9, 31))
    assert not [d for d in again if isinstance(d, SlaWarning | SlaBreached)]


@settings(max_examples=150, deadline=None)
@given(log=histories(), data=st.data())
def test_events_in_time_order_need_no_correction(
    log: list[Transition], data: st.DataObject
) -> None:
    """Each event arriving at its own event time (events of one instant together), the
    scheduler firing on time in between: the topic never needs a correction.
    Corrections are for late events only (an event at the very instant of a threshold
    already stated counts as late: the threshold was crossed as far as anyone knew).
    The plan has steps above 100 %."""
    ordered = sorted(log, key=lambda t: t.sort_key)
    instants = sorted({t.at for t in ordered})
    topic, out = Topic(escalating_contract()), None
    for at in instants:
        if out is not None:
            topic.scheduler(out, at - timedelta(microseconds=1))
        out, _ = topic.replayed([t for t in ordered if t.at <= at], at)
    assert out is not None
    topic.scheduler(out, instants[-1] + timedelta(days=30))
    assert not [e for _, e in topic.events if isinstance(e, SlaOutcomeCorrected)]
