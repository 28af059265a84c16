"""Ticket lifecycle events, on `msp.tickets.v1`.

Emitted by the PSA/ticketing system (through ingest) and by the incidents service for
proactive tickets. Consumed by sla-clock (clocks) and billing (time entries, context).
All carry `ticket_id`; the envelope's `subject` is the ticket id too.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from msp_events.base import EventData, Identifier, Priority, UtcDatetime
from msp_events.bounds import MAX_TIME_ENTRY

TicketSource = Literal["phone", "email", "portal", "chat", "walk_in", "api", "proactive"]
"""How the ticket reached us. `proactive` means our monitoring opened it before the
customer noticed (the point of managed service, seed 004)."""

TicketStatus = Literal[
    "new",
    "open",
    "in_progress",
    "waiting_on_customer",
    "pending_vendor",
    "scheduled",
    "on_hold",
]
"""Working statuses. Resolution and closure have their own events. Which of these
pause an SLA clock is contract policy (`SlaPolicy.pause_statuses`)."""

BillableHint = Literal["billable", "non_billable", "unknown"]


class TicketCreated(EventData):
    """A ticket was opened. Emitted by the PSA (customer-reported) or by incidents
    (`source="proactive"`, with `incident_id`). Starts the SLA clocks."""

    event_type: ClassVar[str] = "msp.ticket.created.v1"

    ticket_id: Identifier
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    priority: Priority
    category: str = Field(
        min_length=1, max_length=64, description="Work category, e.g. help_desk, installation"
    )
    source: TicketSource
    proactive: bool = False
    incident_id: Identifier | None = None
    device_id: Identifier | None = None
    site_id: Identifier | None = None
    reported_by: str | None = Field(default=None, max_length=256)
    opened_at: UtcDatetime

    @model_validator(mode="after")
    def _proactive_consistent(self) -> TicketCreated:
        if self.proactive != (self.source == "proactive"):
            raise ValueError("proactive must be true exactly when source is 'proactive'")
        return self


class TicketStatusChanged(EventData):
    """The ticket moved to another working status (e.g. waiting on the customer).
    Emitted by the PSA. Pauses or resumes SLA clocks per contract policy."""

    event_type: ClassVar[str] = "msp.ticket.status_changed.v1"

    ticket_id: Identifier
    status: TicketStatus
    previous_status: TicketStatus | None = None
    reason: str | None = Field(default=None, max_length=1000)
    changed_at: UtcDatetime


class TicketPriorityChanged(EventData):
    """The ticket's priority changed. Emitted by the PSA or by incidents when an
    incident escalates. Re-targets running SLA clocks."""

    event_type: ClassVar[str] = "msp.ticket.priority_changed.v1"

    ticket_id: Identifier
    priority: Priority
    previous_priority: Priority | None = None
    reason: str | None = Field(default=None, max_length=1000)
    changed_at: UtcDatetime


class TicketAssigned(EventData):
    """The ticket was assigned to a technician and/or team. Emitted by the PSA."""

    event_type: ClassVar[str] = "msp.ticket.assigned.v1"

    ticket_id: Identifier
    technician_id: Identifier | None = None
    team: str | None = Field(default=None, max_length=128)
    assigned_at: UtcDatetime

    @model_validator(mode="after")
    def _someone(self) -> TicketAssigned:
        if self.technician_id is None and self.team is None:
            raise ValueError("technician_id or team is required")
        return self


class TicketCommentAdded(EventData):
    """A reply or note was added. Emitted by the PSA. The first *public* reply by an
    *agent* stops the first-response SLA clock."""

    event_type: ClassVar[str] = "msp.ticket.comment_added.v1"

    ticket_id: Identifier
    comment_id: Identifier
    author_kind: Literal["agent", "customer", "system"]
    author_id: Identifier | None = None
    public: bool
    body: str | None = Field(default=None, max_length=50_000)
    added_at: UtcDatetime


class TimeLogged(EventData):
    """A technician logged work on a ticket. Emitted by the PSA. Billing classifies
    every entry (covered / project / on-demand / warranty) and prices it."""

    event_type: ClassVar[str] = "msp.ticket.time_logged.v1"

    entry_id: Identifier
    ticket_id: Identifier
    technician_id: Identifier
    started_at: UtcDatetime
    ended_at: UtcDatetime
    work_category: str = Field(min_length=1, max_length=64)
    billable_hint: BillableHint = "unknown"
    description: str | None = Field(default=None, max_length=5000)
    asset_id: Identifier | None = Field(default=None, description="Device/asset worked on")
    change_order_id: Identifier | None = None
    emergency: bool = Field(default=False, description="Customer asked for emergency service")
    warranty_claim_ref: str | None = Field(
        default=None, max_length=128, description="Vendor RMA / warranty reference"
    )
    rework_of_entry_id: Identifier | None = Field(
        default=None, description="Set when this entry redoes the MSP's own faulty work"
    )

    @field_validator("ended_at")
    @classmethod
    def _a_bounded_span(cls, value: datetime, info: ValidationInfo) -> datetime:
        started = info.data.get("started_at")
        if started is None:  # started_at itself failed; that error names its field
            return value
        if value <= started:
            raise ValueError("ended_at must be after started_at")
        if value - started > MAX_TIME_ENTRY:
            # Billing prices an entry segment by segment: an unbounded span is an
            # unbounded number of line items. Longer work is several entries.
            raise ValueError(
                f"an entry spans at most {MAX_TIME_ENTRY} (log longer work as several entries)"
            )
        return value


class TicketResolved(EventData):
    """The technician marked the ticket resolved. Emitted by the PSA (or by incidents
    for proactive tickets whose incident recovered). Stops resolution clocks."""

    event_type: ClassVar[str] = "msp.ticket.resolved.v1"

    ticket_id: Identifier
    resolution_code: str = Field(min_length=1, max_length=64)
    resolved_by: Identifier | None = None
    note: str | None = Field(default=None, max_length=5000)
    resolved_at: UtcDatetime


class TicketClosed(EventData):
    """The ticket was closed (no more work expected). Emitted by the PSA."""

    event_type: ClassVar[str] = "msp.ticket.closed.v1"

    ticket_id: Identifier
    closed_at: UtcDatetime


class TicketReopened(EventData):
    """A resolved/closed ticket was reopened. Emitted by the PSA. Starts a new
    resolution cycle; the previous cycle's outcome is kept."""

    event_type: ClassVar[str] = "msp.ticket.reopened.v1"

    ticket_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)
    reopened_at: UtcDatetime


EVENTS: tuple[type[EventData], ...] = (
    TicketCreated,
    TicketStatusChanged,
    TicketPriorityChanged,
    TicketAssigned,
    TicketCommentAdded,
    TimeLogged,
    TicketResolved,
    TicketClosed,
    TicketReopened,
)
