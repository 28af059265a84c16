"""What the API returns (pydantic read schemas). Durations are business seconds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["pending", "met", "breached", "cancelled"]


class PauseRead(BaseModel):
    start: datetime
    end: datetime | None
    status: str


class ClockRead(BaseModel):
    clock_id: str
    ticket_id: str
    metric: str
    cycle: int
    priority: str
    tier: str
    state: Literal["running", "paused", "stopped", "cancelled"]
    outcome: Outcome
    coverage: str
    target_business_seconds: int
    elapsed_business_seconds: int
    remaining_business_seconds: int = Field(description="Negative once overdue")
    started_at: datetime
    stopped_at: datetime | None
    stop_reason: str | None
    due_at: datetime | None = Field(description="Deadline if it keeps running from now")
    breached_at: datetime | None
    contract_id: str
    contract_version: int
    pauses: list[PauseRead]


class TicketSlaRead(BaseModel):
    customer_id: str
    ticket_id: str
    priority: str | None
    status: str | None
    open: bool
    tier: str | None
    contract_id: str | None
    contract_version: int | None
    no_clock_reason: str | None = Field(description="Why the ticket has no clock, if so")
    as_of: datetime
    clocks: list[ClockRead]


class QueueItemRead(BaseModel):
    rank: int
    customer_id: str
    ticket_id: str
    priority: str | None
    tier: str | None
    next_due_at: datetime | None = Field(description="Earliest deadline of a running clock")
    seconds_to_breach: float | None
    opened_at: datetime | None


class MetricSummary(BaseModel):
    metric: str
    priority: str
    clocks: int
    met: int
    breached: int
    pending: int
    cancelled: int
    met_percent: Decimal | None = Field(description="met / (met + breached), 2 decimals")
    mean_business_seconds: Decimal | None = Field(
        description="Mean elapsed of finished clocks: time to respond / to resolve"
    )


class BreachRead(BaseModel):
    clock_id: str
    ticket_id: str
    metric: str
    cycle: int
    priority: str
    due_at: datetime | None
    breached_at: datetime | None
    reason: str
    contract_id: str
    contract_version: int


class AvailabilityRead(BaseModel):
    measured_percent: Decimal
    target_percent: Decimal | None
    met: bool | None
    downtime_seconds: int
    incidents: int


class ReportRead(BaseModel):
    customer_id: str
    month: str
    timezone: str
    as_of: datetime
    contract_versions: list[int]
    summary: list[MetricSummary]
    mean_time_to_respond_seconds: Decimal | None
    mean_time_to_resolve_seconds: Decimal | None
    breaches: list[BreachRead]
    availability: AvailabilityRead
    clocks: list[ClockRead]
