"""A ticket's SLA clocks, computed by replaying its transition log.

`replay(log, contract, now=...)` is a pure function: the same log, contract and `now`
give the same clocks and the same output events (with the same ids), whatever order
the transitions arrived in. That is how late and out-of-order events are handled: the
service stores every transition and replays the ticket.

Rules (each one is a line or two below; see README.md for the table):
* Order: transitions sort by (event time, kind order `KIND_ORDER`, event id). At the
  same instant a creation comes first, then priority, status, comment, resolve, close,
  reopen: so an agent replying and resolving in the same second meets first response
  through the reply, and a resolve + reopen at one instant closes a cycle and opens the
  next.
* Policy snapshot: targets come from the contract version in force at `opened_at`; the
  clocks keep that version for life (reopen cycles included).
* Clocks: `first_response` (cycle 1 only) stops at the first public agent comment, or at
  resolution/closure if that comes first; `resolution` stops at resolved (or closed
  without a resolve). A reopen starts resolution cycle n+1; cycle n's outcome stands.
* Pause: while the ticket's status is in the policy's `pause_statuses`, every running
  clock of the ticket is paused; paused time never counts.
* Priority change: running clocks take the new priority's target and coverage.
  `keep_elapsed` (default): business time already counted stays counted, new time is
  counted on the new coverage. `retroactive`: elapsed is re-measured from the start on
  the new priority's coverage. Either way a threshold cannot be crossed before the
  change that set the target, and one crossed under the old target before the change
  stands (`Clock.pin_crossed`). A priority without a target cancels the running clocks.
* Outcome: breached when the elapsed business time reaches the target before the clock
  stops (a goal reached after that is no met); met when it stops at or within it. A
  late event may change an outcome already published: `corrections.py` corrects it.
* Termination: once the contract's termination instant has passed (`now`), every live
  clock is cancelled at that instant with the reason "contract terminated"; warnings and
  breaches crossed before it stand, none after it is announced or scheduled, and no clock
  starts (or restarts on reopen) from it on. A termination still ahead of `now` only
  drops the deadlines at or after it; its cancellation is announced by the first replay
  of the ticket at or after the instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Literal, NamedTuple

from msp_events import derive_event_id
from msp_events.base import EventData, Priority
from msp_events.bounds import EARLIEST, LATEST
from msp_events.trusted import construct
from msp_events.types.contracts import ContractSnapshot, ContractVersion, Coverage
from msp_events.types.sla import (
    Metric,
    SlaClockCancelled,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
)
from sla_clock.calendar import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    calendar_for,
)
from sla_clock.emissions import Emission, sla_event_id, threshold_emission
from sla_clock.thresholds import BREACH_PERCENT, Step, StepKind, plan_escalation, version_steps
from sla_clock.transitions import Transition

State = Literal["running", "paused", "stopped", "cancelled"]


@dataclass
class Segment:
    start: datetime
    end: datetime | None
    calendar: BusinessCalendar


@dataclass
class Pause:
    start: datetime
    end: datetime | None
    status: str


class Deadline(NamedTuple):
    """A future step of a running clock (a tuple: several per clock, built per replay)."""

    kind: StepKind
    percent: int
    due_at: datetime


@dataclass(frozen=True)
class Crossed:
    """A threshold crossed under an earlier target: its instant, and the clock's
    identity, deadline and target then."""

    percent: int
    instant: datetime
    identity: dict[str, object]
    due_at: datetime
    target_s: int


@dataclass
class Clock:
    ticket_id: str
    metric: Metric
    cycle: int
    priority: Priority
    contract_id: str
    version: ContractVersion
    target_s: int
    coverage: Coverage
    calendar: BusinessCalendar
    started_at: datetime
    target_set_at: datetime
    segments: list[Segment] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    state: State = "running"
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    retroactive: bool = False
    # thresholds crossed under an earlier target, before a priority change re-targeted
    # the clock: they happened, whatever the new target says
    crossed: list[Crossed] = field(default_factory=list)
    by_termination: bool = False  # cancelled by the contract's end: what came before stands
    settled: bool = False  # set once the replay is over: instants may then be memoised
    _instants: dict[int, datetime | None] = field(default_factory=dict)

    @cached_property  # ticket, metric and cycle never change
    def clock_id(self) -> str:
        readable = f"clk-{self.ticket_id}-{self.metric}-{self.cycle}"
        if len(readable) <= 128:
            return readable
        return "clk-" + derive_event_id(self.ticket_id, self.metric, str(self.cycle))

    def identity(self) -> dict[str, object]:
        return {
            "clock_id": self.clock_id,
            "ticket_id": self.ticket_id,
            "metric": self.metric,
            "cycle": self.cycle,
            "priority": self.priority,
            "contract_id": self.contract_id,
            "contract_version": self.version.version,
            "timezone": self.version.timezone,
        }

    def steps(self) -> list[Step]:
        """The warnings, breach and escalations of the current target, ascending."""
        return version_steps(self.version, self.target_s)

    def event_id(self, *parts: str) -> str:
        return sla_event_id(self.ticket_id, self.metric, self.cycle, *parts)

    def elapsed(self, until: datetime) -> timedelta:
        total = timedelta(0)
        for seg in self.segments:
            end = until if seg.end is None else min(seg.end, until)
            cal = self.calendar if self.retroactive else seg.calendar
            total += business_time_between(cal, seg.start, end)
        return total

    def instant_of(self, mark_s: int) -> datetime | None:
        """When the elapsed business time reaches `mark_s` (never before the target was
        set), assuming an open segment runs on; None if it does not within the log."""
        if self.settled and mark_s in self._instants:
            return self._instants[mark_s]
        found = self._instant_of(mark_s)
        if self.settled:
            self._instants[mark_s] = found
        return found

    def _instant_of(self, mark_s: int) -> datetime | None:
        mark, done = timedelta(seconds=mark_s), timedelta(0)
        for seg in self.segments:
            cal = self.calendar if self.retroactive else seg.calendar
            length = None if seg.end is None else business_time_between(cal, seg.start, seg.end)
            if length is None or done + length >= mark:
                return max(add_business_time(cal, seg.start, mark - done), self.target_set_at)
            done += length
        return None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def reached(self, instant: datetime | None) -> bool:
        """Whether a threshold at `instant` was crossed while the clock counted."""
        if instant is None:
            return False
        return self.stopped_at is None or instant < self.stopped_at

    def breached_at(self) -> datetime | None:
        if self.state == "cancelled" and not self.by_termination:
            return None  # a termination does not undo a breach that came before it
        if self.pinned_breach is not None:
            return self.pinned_breach  # breached under an earlier target: it stands
        instant = self.instant_of(self.target_s)
        return instant if self.reached(instant) else None

    @property
    def pinned_breach(self) -> datetime | None:
        return next((c.instant for c in self.crossed if c.percent == BREACH_PERCENT), None)

    def pin_crossed(self, before: datetime) -> None:
        """Keep the thresholds of the current target crossed before `before` (a
        priority change): the new target does not undo them."""
        due = self.instant_of(self.target_s)
        seen = {(c.percent, c.identity["priority"]) for c in self.crossed}
        breached_before = self.pinned_breach is not None
        for step in self.steps():
            percent, instant = step.percent, self.instant_of(step.mark_s)
            if instant is None or instant >= before or (percent, self.priority) in seen:
                continue
            if percent >= BREACH_PERCENT and breached_before:
                continue  # breached under an earlier target: nothing more is announced
            self.crossed.append(
                Crossed(percent, instant, self.identity(), due or instant, self.target_s)
            )


@dataclass
class TicketOutcome:
    clocks: list[Clock]
    emissions: list[Emission]
    deadlines: dict[tuple[str, int], list[Deadline]]
    no_clock_reason: str | None
    priority: Priority | None
    status: str | None
    open: bool
    opened_at: datetime | None
    contract_version: ContractVersion | None


class _Replay:
    def __init__(self, ticket_id: str, contract: ContractSnapshot | None) -> None:
        self.ticket_id = ticket_id
        self.contract = contract
        self.version: ContractVersion | None = None
        self.clocks: list[Clock] = []
        self.emissions: list[Emission] = []
        self.priority: Priority | None = None
        self.status: str | None = None
        self.paused = False
        self.open = True
        self.opened_at: datetime | None = None
        self.no_clock_reason: str | None = "ticket creation not seen yet"
        self.terminated = False

    def terminate(self, at: datetime) -> None:
        """The contract ended at `at`: cancel the live clocks; no clock starts after."""
        self.terminated = True
        for clock in self.live():
            clock.by_termination = True
            self.cancel(clock, at, f"contract terminated at {at.isoformat()}")

    def emit(self, clock: Clock, at: datetime, data: EventData, *parts: str) -> None:
        self.emissions.append(Emission(clock.event_id(*parts), at, data))

    def live(self) -> list[Clock]:
        return [c for c in self.clocks if c.state in ("running", "paused")]

    def new_clock(
        self, metric: Metric, cycle: int, at: datetime, *, announce: bool = True
    ) -> Clock | None:
        assert self.version is not None and self.contract is not None
        assert self.priority is not None
        target = self.version.sla.target_for(self.priority)
        if target is None or self.terminated:
            return None
        minutes = (
            target.first_response_minutes
            if metric == "first_response"
            else (target.resolution_minutes)
        )
        cal = calendar_for(self.version, target.coverage)
        clock = Clock(
            ticket_id=self.ticket_id,
            metric=metric,
            cycle=cycle,
            priority=self.priority,
            contract_id=self.contract.contract_id,
            version=self.version,
            target_s=minutes * 60,
            coverage=target.coverage,
            calendar=cal,
            started_at=at,
            target_set_at=at,
            segments=[Segment(at, None, cal)],
            retroactive=self.version.sla.priority_change_rule == "retroactive",
        )
        self.clocks.append(clock)
        if not announce:
            return clock
        due = add_business_time(cal, at, timedelta(seconds=clock.target_s))
        self.emit(clock, at, started_event(clock, due), "started")
        return clock

    def created(self, t: Transition) -> None:
        self.opened_at, self.priority = t.at, t.priority
        self.version = self.contract.version_at(t.at) if self.contract else None
        if self.terminated:
            self.version = None
            self.no_clock_reason = "contract terminated before the ticket was opened"
            return
        if self.version is None:
            self.no_clock_reason = "no contract in force when the ticket was opened"
            return
        if self.version.sla.target_for(t.priority or "P5") is None:
            self.no_clock_reason = f"contract has no SLA target for {t.priority}"
            return
        excluded = next(
            (a for a in self.version.excluded_assets if a.asset_id == t.device_id), None
        )
        if excluded is None:
            self.no_clock_reason = None
            self.new_clock("first_response", 1, t.at)
            self.new_clock("resolution", 1, t.at)
            return
        # An excluded asset gets no clock (seed 002): only the reason, recorded here and
        # announced once per metric as a cancellation so subscribers see why.
        self.no_clock_reason = f"asset excluded: {excluded.asset_id}: {excluded.reason}"
        for metric in ("first_response", "resolution"):
            clock = self.new_clock(metric, 1, t.at, announce=False)
            if clock is not None:
                self.cancel(clock, t.at, self.no_clock_reason)
        self.clocks = []

    def cancel(self, clock: Clock, at: datetime, reason: str) -> None:
        self.close_segment(clock, at)
        clock.state, clock.stopped_at, clock.stop_reason = "cancelled", at, reason
        data = SlaClockCancelled(**clock.identity(), reason=reason[:1000], cancelled_at=at)
        self.emit(clock, at, data, "cancelled")

    def close_segment(self, clock: Clock, at: datetime) -> None:
        if clock.segments and clock.segments[-1].end is None:
            clock.segments[-1].end = at

    def stop(self, clock: Clock, at: datetime, reason: str) -> None:
        if clock.state not in ("running", "paused"):
            return
        self.close_segment(clock, at)
        if clock.pauses and clock.pauses[-1].end is None:
            clock.pauses[-1].end = at
        clock.state, clock.stopped_at, clock.stop_reason = "stopped", at, reason
        if clock.breached_at() is None:
            elapsed = int(clock.elapsed(at).total_seconds())
            data = SlaMet(
                **clock.identity(),
                met_at=at,
                elapsed_business_seconds=min(elapsed, clock.target_s),
                target_business_seconds=clock.target_s,
            )
            self.emit(clock, at, data, "met")

    def set_status(self, t: Transition) -> None:
        assert self.version is not None
        self.status = t.status
        pausing = t.status in self.version.sla.pause_statuses
        if pausing and not self.paused:
            for clock in self.live():
                self.close_segment(clock, t.at)
                clock.state = "paused"
                clock.pauses.append(Pause(t.at, None, str(t.status)))
                data = SlaClockPaused(
                    **clock.identity(),
                    status=t.status,
                    paused_at=t.at,
                    elapsed_business_seconds=int(clock.elapsed(t.at).total_seconds()),
                )
                self.emit(clock, t.at, data, "paused", t.event_id)
        elif not pausing and self.paused:
            for clock in self.live():
                self.resume(clock, t.at, t.event_id)
        self.paused = pausing

    def resume(self, clock: Clock, at: datetime, cause: str) -> None:
        clock.state = "running"
        clock.segments.append(Segment(at, None, clock.calendar))
        clock.pauses[-1].end = at
        due = clock.instant_of(clock.target_s)
        assert due is not None  # an open segment always reaches the target
        data = SlaClockResumed(**clock.identity(), resumed_at=at, due_at=max(due, at))
        self.emit(clock, at, data, "resumed", cause)

    def set_priority(self, t: Transition) -> None:
        assert self.version is not None and t.priority is not None
        self.priority = t.priority
        target = self.version.sla.target_for(t.priority)
        for clock in self.live():
            if clock.priority == t.priority:
                continue
            clock.pin_crossed(t.at)
            if target is None:
                self.cancel(clock, t.at, f"priority changed to {t.priority}, which has no target")
                continue
            cal = calendar_for(self.version, target.coverage)
            clock.priority, clock.calendar, clock.target_set_at = t.priority, cal, t.at
            clock.coverage = target.coverage
            clock.target_s = 60 * (
                target.first_response_minutes
                if clock.metric == "first_response"
                else target.resolution_minutes
            )
            if clock.running:
                self.close_segment(clock, t.at)
                clock.segments.append(Segment(t.at, None, cal))

    def apply(self, t: Transition) -> None:
        if t.kind == "created":
            if self.opened_at is None:
                self.created(t)
            return
        if t.kind == "priority" and self.version is None:
            self.priority = t.priority
            return
        if self.version is None:
            return  # nothing to clock before the creation (or without a contract)
        if t.kind == "priority":
            self.set_priority(t)
        elif t.kind == "status":
            self.set_status(t)
        elif t.kind == "comment" and t.agent_reply:
            for clock in self.live():
                if clock.metric == "first_response":
                    self.stop(clock, t.at, "first public agent reply")
        elif t.kind in ("resolved", "closed"):
            self.open = False
            for clock in self.live():
                self.stop(clock, t.at, t.kind)
        elif t.kind == "reopened" and not self.open:
            self.open, self.paused = True, False
            cycles = [c.cycle for c in self.clocks if c.metric == "resolution"]
            if cycles:
                self.new_clock("resolution", max(cycles) + 1, t.at)


def replay(
    log: list[Transition],
    contract: ContractSnapshot | None,
    *,
    ticket_id: str,
    now: datetime,
    terminated_at: datetime | None = None,
) -> TicketOutcome:
    """Replay `log` (any order) under `contract` as seen at `now`: the clocks, the events
    they have produced by `now`, and each running clock's future deadlines.
    `terminated_at`: when the contract ends (see "Termination" above)."""
    run = _Replay(ticket_id, contract)
    ended = terminated_at if terminated_at is not None and terminated_at <= now else None
    for t in sorted(log, key=lambda t: t.sort_key):
        if ended is not None and not run.terminated and t.at >= ended:
            run.terminate(ended)
        run.apply(t)
    if ended is not None and not run.terminated:
        run.terminate(ended)
    deadlines: dict[tuple[str, int], list[Deadline]] = {}
    for clock in run.clocks:
        clock.settled = True
        for crossed in clock.crossed:
            if (
                clock.state != "cancelled"
                or clock.by_termination
                or crossed.percent < BREACH_PERCENT
            ):
                run.emissions.append(crossed_event(clock, crossed))
        if clock.state == "cancelled" and not clock.by_termination:
            continue
        future: list[Deadline] = []
        # breached under an earlier target: nothing more to announce
        steps = [] if clock.pinned_breach is not None else clock.steps()
        seen = {(c.percent, c.identity["priority"]) for c in clock.crossed}
        for step in steps:
            percent, instant = step.percent, clock.instant_of(step.mark_s)
            if not clock.reached(instant) or (percent, clock.priority) in seen:
                continue
            assert instant is not None
            if clock.state == "running" and instant > now:
                if terminated_at is None or instant < terminated_at:
                    future.append(Deadline(step.kind, percent, instant))
            elif clock.state != "paused" or instant <= now:
                run.emissions.append(threshold_event(clock, percent, instant))
        if future:
            deadlines[(clock.metric, clock.cycle)] = future
    run.emissions.sort(key=lambda e: e.at)  # stable: same-instant events keep log order
    return TicketOutcome(
        clocks=run.clocks,
        emissions=run.emissions,
        deadlines=deadlines,
        no_clock_reason=run.no_clock_reason,
        priority=run.priority,
        status=run.status,
        open=run.open,
        opened_at=run.opened_at,
        contract_version=run.version,
    )


def started_event(clock: Clock, due: datetime) -> SlaClockStarted:
    """The `SlaClockStarted` of a new clock, built without validation
    (`msp_events.trusted.construct`) when its instants are ones validation returns
    unchanged (UTC, inside the contract's window, due not before start): every other
    value comes from a validated ticket event or contract (the readable clock id is an
    identifier by construction, else hashed). Otherwise validated, which raises as it
    always did. `tests/test_clock.py::test_built_events_equal_validated_ones` checks the
    two are equal and encode to the same bytes."""
    values = {  # in the fields' declaration order, as validation lays them out
        **clock.identity(),
        "target_business_seconds": clock.target_s,
        "coverage": clock.coverage,
        "started_at": clock.started_at,
        "due_at": due,
    }
    start = clock.started_at
    if (
        clock.target_s > 0
        and start.tzinfo is UTC
        and due.tzinfo is UTC
        and EARLIEST <= start <= due < LATEST
    ):
        return construct(SlaClockStarted, values)
    return SlaClockStarted(**values)


def crossed_event(clock: Clock, crossed: Crossed) -> Emission:
    """The warning or breach of a threshold crossed under an earlier target."""
    level, roles = plan_escalation(clock.version.escalation_plan, crossed.percent)
    return threshold_emission(
        crossed.identity,
        percent=crossed.percent,
        instant=crossed.instant,
        due_at=crossed.due_at,
        target_s=crossed.target_s,
        level=level,
        roles=roles,
    )


def threshold_event(clock: Clock, percent: int, instant: datetime) -> Emission:
    """The warning or breach of `clock` crossing `percent` at `instant`."""
    level, roles = plan_escalation(clock.version.escalation_plan, percent)
    due = clock.instant_of(clock.target_s) or instant
    return threshold_emission(
        clock.identity(),
        percent=percent,
        instant=instant,
        due_at=due,
        target_s=clock.target_s,
        level=level,
        roles=roles,
    )
