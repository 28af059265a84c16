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
version that applied (DESIGN.md), and that version's time zone, so a notifier can
render instants in the customer's local time. Durations are *business* seconds: time
inside the contract's coverage, excluding pauses.

Escalation: every step of the contract's escalation plan is announced once per clock,
on time: a step at or below 100 % as the warning of its threshold (`SlaWarning`) or the
breach (`SlaBreached`), a step above 100 % as `SlaEscalated`. Each names the step's
level and the roles to inform.

Once a month sla-clock also publishes each customer's `SlaMonthlyReport` for the
previous month (the figures of `GET /v1/customers/{id}/sla-report`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from msp_events.base import (
    PLAIN_DECIMAL,
    EventData,
    Identifier,
    Part,
    Priority,
    TimeZoneName,
    UtcDatetime,
)
from msp_events.bounds import Month
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
    timezone: TimeZoneName | None = Field(
        default=None,
        description="The IANA time zone of the contract version the clock runs on, for "
        "rendering its instants in the customer's local time (absent on events written "
        "before it was added)",
    )


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


class SlaEscalated(SlaClockEvent):
    """A breached clock still running reached a step of the contract's escalation plan
    above 100 % of its target (e.g. 150 %, 200 %): the plan escalates further.
    Emitted by sla-clock once per step and clock, on time from its deadline scheduler
    even when no other event arrives (or late, with the true `at`, when it learns of it
    afterwards). Paused time does not count, as for warnings; a correction
    (`SlaOutcomeCorrected`, statement "escalation") withdraws or moves it when late
    events disprove it. `due_at` is the clock's deadline (the breach instant)."""

    event_type: ClassVar[str] = "msp.sla.escalated.v1"

    threshold_percent: int = Field(ge=101, le=1000, description="The plan step's threshold")
    escalation_level: int = Field(ge=1)
    roles_to_inform: RoleList = Field(default_factory=list)
    due_at: UtcDatetime
    elapsed_business_seconds: int = Field(ge=0)
    at: UtcDatetime = Field(description="When the step was reached")
    timezone: TimeZoneName = Field(  # required here: added with this event
        description="The IANA time zone of the contract version the clock runs on"
    )

    @field_validator("at")
    @classmethod
    def _after_deadline(cls, value: datetime, info: ValidationInfo) -> datetime:
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


Statement = Literal["warning", "breach", "met", "cancellation", "escalation"]
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
    warning (or escalation) holds unless a correction of it (`statement` warning or
    escalation) has no `now_at`.
    Lifecycle events (started, paused, resumed) are not corrected."""

    event_type: ClassVar[str] = "msp.sla.outcome_corrected.v1"

    corrects_event_id: Identifier = Field(description="The event this one corrects")
    statement: Statement = Field(description="What the corrected event stated")
    threshold_percent: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="The threshold of the warning (1-99) or escalation step (101-1000); "
        "absent for the others",
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


ReportDecimal = Annotated[Decimal, Field(max_digits=20, decimal_places=2), PLAIN_DECIMAL]
MAX_REPORT_BREACHES = 500
MAX_REPORT_CSV = 400_000
"""Bounds that keep a report inside a Kafka record (1 MiB); every figure is complete."""


class SlaReportLine(Part):
    """Compliance of one metric and priority over the month's clocks."""

    metric: Metric
    priority: Priority
    clocks: int = Field(ge=0)
    met: int = Field(ge=0)
    breached: int = Field(ge=0)
    pending: int = Field(ge=0)
    cancelled: int = Field(ge=0)
    met_percent: ReportDecimal | None = Field(
        default=None, description="met / (met + breached); absent when both are 0"
    )
    mean_business_seconds: ReportDecimal | None = Field(
        default=None, description="Mean elapsed business time of the finished clocks"
    )


class SlaReportBreach(Part):
    """One breached clock of the month, and why."""

    clock_id: Identifier
    ticket_id: Identifier
    metric: Metric
    cycle: int = Field(ge=1)
    priority: Priority
    due_at: UtcDatetime | None = None
    breached_at: UtcDatetime | None = None
    reason: str = Field(max_length=2000)
    contract_id: Identifier
    contract_version: int = Field(ge=1)


class SlaReportAvailability(Part):
    """Measured availability (top-level incident outages) against the uptime target."""

    measured_percent: ReportDecimal
    target_percent: ReportDecimal | None = None
    met: bool | None = Field(default=None, description="Absent without a target")
    downtime_seconds: int = Field(ge=0)
    incidents: int = Field(ge=0)


class SlaMonthlyReport(EventData):
    """A customer's SLA report for a month, with the same figures as
    `GET /v1/customers/{id}/sla-report?month=` answered at `as_of`, and the report's CSV
    (one row per clock). Emitted by sla-clock once per customer and month, on the
    first business day of the next month in the customer's time zone (at the opening
    of business hours on the contract's calendar; at local midnight of the 1st when the
    calendar has no business hours), from its scheduler, starting with the month it
    learnt the contract in. Consumers deliver it to the contacts the contract version
    `contract_version` names for reports. The envelope's `subject` is
    `sla-report/<month>`."""

    event_type: ClassVar[str] = "msp.sla.monthly_report.v1"

    month: Month = Field(description="The month reported, in the contract's time zone")
    timezone: TimeZoneName
    as_of: UtcDatetime = Field(description="The instant the figures are taken at")
    contract_id: Identifier
    contract_version: int = Field(
        ge=1,
        description="The version in force at `as_of`: its contact directory names the "
        "recipients (`report_roles`)",
    )
    contract_versions: list[int] = Field(
        max_length=1000, description="The versions the month's clocks ran on"
    )
    clocks: int = Field(ge=0, description="Clocks started in the month")
    summary: list[SlaReportLine] = Field(max_length=10)
    mean_time_to_respond_seconds: ReportDecimal | None = Field(
        default=None, description="Absent without a finished first-response clock"
    )
    mean_time_to_resolve_seconds: ReportDecimal | None = Field(
        default=None, description="Absent without a finished resolution clock"
    )
    breaches: list[SlaReportBreach] = Field(
        max_length=MAX_REPORT_BREACHES,
        description=f"The breached clocks, the first {MAX_REPORT_BREACHES} by start",
    )
    breaches_total: int = Field(ge=0, description="All breached clocks of the month")
    availability: SlaReportAvailability
    csv: str = Field(
        max_length=MAX_REPORT_CSV,
        description="The report's CSV (`format=csv`), cut at a row boundary when longer",
    )
    csv_rows_omitted: int = Field(
        default=0, ge=0, description="Clock rows left out of `csv` to keep it in bounds"
    )

    @field_validator("breaches_total")
    @classmethod
    def _all_listed_counted(cls, value: int, info: ValidationInfo) -> int:
        listed = info.data.get("breaches")
        if listed is not None and value < len(listed):
            raise ValueError("must count at least the breaches listed")
        return value


EVENTS: tuple[type[EventData], ...] = (
    SlaClockStarted,
    SlaClockPaused,
    SlaClockResumed,
    SlaWarning,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaClockCancelled,
    SlaOutcomeCorrected,
    SlaMonthlyReport,
)
