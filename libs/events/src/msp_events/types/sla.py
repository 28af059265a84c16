"""SLA events, on `msp.sla.v1`.

Emitted by the sla-clock service, which keeps one clock per ticket per metric (first
response, resolution), counting business time on the contract's calendar. Consumed by
external systems (notification, reporting, Grafana). The envelope's `subject` is the
ticket id.

Outcomes follow the ticket's whole history: when late events show that an outcome
already on the topic (a warning, a breach, a met, a cancellation) did not happen, or
happened at another instant, sla-clock publishes an `SlaOutcomeCorrected` naming the
event it corrects. Reading the topic in order (one customer's events share a
partition), the latest outcome event for a `clock_id` (SlaBreached, SlaMet,
SlaClockCancelled, or a correction's `outcome`) is the clock's outcome, the one the
ticket API and the monthly report show.

Every event carries the clock's identity (`SlaClockEvent`), including the contract id
and version that set the target, so every SLA outcome can be traced to the contract
version that applied (DESIGN.md). Durations are *business* seconds: time inside the
contract's coverage, excluding pauses.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from msp_events.base import EventData, Identifier, Priority, UtcDatetime
from msp_events.types.contracts import Coverage, RoleList
from msp_events.types.tickets import TicketStatus

Metric = Literal["first_response", "resolution"]


class SlaClockEvent(EventData):
    """Base of every SLA event: which clock, and under which contract version.

    `cycle` counts resolution cycles: a reopened ticket starts cycle 2 of its
    resolution clock while cycle 1's outcome stands."""

    clock_id: Identifier
    ticket_id: Identifier
    metric: Metric
    cycle: int = Field(ge=1)
    priority: Priority = Field(description="The priority whose target the clock runs on")
    contract_id: Identifier
    contract_version: int = Field(ge=1)


def _not_before(value: datetime, info: ValidationInfo, earlier_field: str) -> datetime:
    """For a field validator: `value` must not be earlier than the (already validated)
    instant in `earlier_field`."""
    earlier = info.data.get(earlier_field)
    if earlier is not None and value < earlier:
        raise ValueError(f"must not be before {earlier_field}")
    return value


class SlaClockStarted(SlaClockEvent):
    """A clock started: a ticket was created (or reopened, for a new resolution cycle).
    Emitted by sla-clock. `due_at` is when the target will be reached if the clock runs
    uninterrupted from `started_at`."""

    event_type: ClassVar[str] = "msp.sla.clock_started.v1"

    target_business_seconds: int = Field(gt=0)
    coverage: Coverage
    started_at: UtcDatetime
    due_at: UtcDatetime

    @field_validator("due_at")
    @classmethod
    def _due_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before(value, info, "started_at")


class SlaClockPaused(SlaClockEvent):
    """A clock paused because the ticket entered a pause status of the contract's
    policy (e.g. waiting on the customer). Emitted by sla-clock."""

    event_type: ClassVar[str] = "msp.sla.clock_paused.v1"

    status: TicketStatus = Field(description="The status that paused the clock")
    paused_at: UtcDatetime
    elapsed_business_seconds: int = Field(ge=0, description="Counted so far")


class SlaClockResumed(SlaClockEvent):
    """A paused clock runs again (the ticket left the pause status). Emitted by
    sla-clock with the recomputed deadline."""

    event_type: ClassVar[str] = "msp.sla.clock_resumed.v1"

    resumed_at: UtcDatetime
    due_at: UtcDatetime

    @field_validator("due_at")
    @classmethod
    def _due_after_resume(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before(value, info, "resumed_at")


class SlaWarning(SlaClockEvent):
    """A running clock crossed a warning threshold (a share of its target, e.g. 75%)
    without being met. Emitted by sla-clock on time, from its deadline scheduler, even
    when no other event arrives. `escalation_level` is the contract's escalation step
    for this threshold, 0 when the plan has none."""

    event_type: ClassVar[str] = "msp.sla.warning.v1"

    threshold_percent: int = Field(ge=1, le=99)
    escalation_level: int = Field(ge=0)
    roles_to_inform: RoleList = Field(default_factory=list)
    due_at: UtcDatetime
    elapsed_business_seconds: int = Field(ge=0)
    at: UtcDatetime = Field(description="When the threshold was crossed")


class SlaBreached(SlaClockEvent):
    """A clock reached its target without being met: the SLA is breached. Emitted by
    sla-clock at `due_at` (from its scheduler), or late with the true `breached_at` when
    it learns of the breach afterwards (e.g. catching up after downtime)."""

    event_type: ClassVar[str] = "msp.sla.breached.v1"

    due_at: UtcDatetime
    breached_at: UtcDatetime
    escalation_level: int = Field(ge=0)
    roles_to_inform: RoleList = Field(default_factory=list)

    @field_validator("breached_at")
    @classmethod
    def _breach_not_early(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before(value, info, "due_at")


class SlaMet(SlaClockEvent):
    """The clock's goal was reached within target (first agent reply, or resolution).
    Emitted by sla-clock. A goal reached after a breach emits no SlaMet: the breach
    stands. When late events show a breach already emitted did not happen (the goal
    was reached in time), the SlaMet comes with the `SlaOutcomeCorrected` that
    withdraws the breach."""

    event_type: ClassVar[str] = "msp.sla.met.v1"

    met_at: UtcDatetime
    elapsed_business_seconds: int = Field(ge=0)
    target_business_seconds: int = Field(gt=0)

    @field_validator("target_business_seconds")
    @classmethod
    def _within_target(cls, value: int, info: ValidationInfo) -> int:
        elapsed = info.data.get("elapsed_business_seconds")
        if elapsed is not None and elapsed > value:
            raise ValueError("elapsed_business_seconds exceeds the target: that is a breach")
        return value


class SlaClockCancelled(SlaClockEvent):
    """A clock was stopped without an outcome, e.g. the asset is excluded by the
    contract, the ticket was closed as a duplicate, or the contract ended. Emitted by
    sla-clock. Cancelled clocks count neither as met nor as breached."""

    event_type: ClassVar[str] = "msp.sla.clock_cancelled.v1"

    reason: str = Field(min_length=1, max_length=1000)
    cancelled_at: UtcDatetime


Statement = Literal["warning", "breach", "met", "cancellation"]
Outcome = Literal["pending", "met", "breached", "cancelled"]


class SlaOutcomeCorrected(SlaClockEvent):
    """An outcome already emitted for this clock was wrong: late ticket events (or a
    changed contract) show that it did not happen, or happened at another instant.
    Emitted by sla-clock, in the same transaction as the state change, with a
    deterministic id (from the corrected event's id and the new facts), so a replay or
    a crash never sends it twice.

    It corrects one statement: `corrects_event_id` names the latest event about it (the
    original SlaWarning / SlaBreached / SlaMet / SlaClockCancelled, or an earlier
    correction); `was_at` is what that event said (absent: it had withdrawn the
    statement) and `now_at` what is true now (absent: it did not happen). `outcome`
    and `outcome_at` are the clock's outcome as now known: the ticket API's. A statement
    made true for the first time comes as its original event (e.g. the SlaMet that
    replaces a withdrawn breach); one withdrawn earlier and true again comes as a
    correction.

    Consumers: read in topic order; the latest of SlaBreached, SlaMet,
    SlaClockCancelled and SlaOutcomeCorrected for a `clock_id` is its outcome; a
    warning holds unless a correction of it (`statement` warning) has no `now_at`.
    Lifecycle events (started, paused, resumed) are not corrected."""

    event_type: ClassVar[str] = "msp.sla.outcome_corrected.v1"

    corrects_event_id: Identifier = Field(description="The event this one corrects")
    statement: Statement = Field(description="What the corrected event stated")
    threshold_percent: int | None = Field(
        default=None, ge=1, le=99, description="The warning's threshold (warnings only)"
    )
    was_at: UtcDatetime | None = Field(
        default=None, description="The instant the corrected event stated; absent: none"
    )
    now_at: UtcDatetime | None = Field(
        default=None, description="The true instant; absent: it did not happen"
    )
    outcome: Outcome = Field(description="The clock's outcome as now known")
    outcome_at: UtcDatetime | None = Field(
        default=None, description="When it was met, breached or cancelled; absent if pending"
    )
    because_of: list[Identifier] = Field(
        default_factory=list,
        max_length=100,
        description="The ids of the late events that changed it (at most 100)",
    )
    corrected_at: UtcDatetime = Field(description="When sla-clock learnt it (its now)")

    @field_validator("outcome_at")
    @classmethod
    def _instant_iff_decided(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if (value is None) != (info.data.get("outcome") == "pending"):
            raise ValueError("required unless the outcome is pending, and only then null")
        return value


EVENTS: tuple[type[EventData], ...] = (
    SlaClockStarted,
    SlaClockPaused,
    SlaClockResumed,
    SlaWarning,
    SlaBreached,
    SlaMet,
    SlaClockCancelled,
    SlaOutcomeCorrected,
)
