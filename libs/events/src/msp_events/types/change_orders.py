"""Change order events, on `msp.change-orders.v1`.

Emitted by ingest from the PSA/CRM where the customer signs off extra work. Consumed
by billing: out-of-scope work is never silently absorbed or silently billed (DESIGN.md);
it is billable only when an approved change order authorises it, and otherwise lands on
the scope-creep report.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from msp_events.base import Currency, EventData, Identifier, NonNegativeMoney, UtcDatetime


class ChangeOrderApproved(EventData):
    """The customer approved a change order: the listed work (by ticket and/or work
    category) is authorised as billable, within the budget if one is given. Emitted by
    ingest. Re-sending the same `change_order_id` replaces the earlier approval."""

    event_type: ClassVar[str] = "msp.change_order.approved.v1"

    change_order_id: Identifier
    ticket_ids: list[Identifier] = Field(
        default_factory=list,
        max_length=1000,
        description="Tickets covered; may be empty when approved up front",
    )
    scope: str = Field(min_length=1, max_length=5000, description="The agreed work, in words")
    work_categories: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    budget_amount: NonNegativeMoney | None = None
    budget_minutes: int | None = Field(default=None, gt=0)
    currency: Currency | None = Field(
        default=None,
        validate_default=True,  # so the rule below also runs when currency is absent
        description="Required with budget_amount",
    )
    approved_by: str = Field(min_length=1, max_length=256)
    approved_at: UtcDatetime
    valid_until: UtcDatetime | None = None

    @field_validator("currency")
    @classmethod
    def _currency_with_budget(cls, value: str | None, info: ValidationInfo) -> str | None:
        budget: Decimal | None = info.data.get("budget_amount")
        if budget is not None and value is None:
            raise ValueError("currency is required when budget_amount is given")
        return value

    @field_validator("valid_until")
    @classmethod
    def _valid_after_approval(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        approved_at = info.data.get("approved_at")
        if value is not None and approved_at is not None and value <= approved_at:
            raise ValueError("valid_until must be after approved_at")
        return value


class ChangeOrderRejected(EventData):
    """The customer rejected a change order (or withdrew an approval). Emitted by ingest.
    Work done under it is not billable; billing reports it as scope creep."""

    event_type: ClassVar[str] = "msp.change_order.rejected.v1"

    change_order_id: Identifier
    reason: str = Field(min_length=1, max_length=1000)
    rejected_by: str = Field(min_length=1, max_length=256)
    rejected_at: UtcDatetime


class ChangeOrderOverrunApproved(EventData):
    """The customer approved the work done beyond a change order's budget
    (`budget_minutes` / `budget_amount`). Emitted by ingest from the PSA/CRM. Billing
    holds such work (classification `scope_creep`, rule `change_order_budget_exceeded`)
    until this arrives, then releases everything held for the change order up to
    `approved_at` as billable project work; later work beyond the budget is held again."""

    event_type: ClassVar[str] = "msp.change_order.overrun_approved.v1"

    change_order_id: Identifier
    reason: str = Field(min_length=1, max_length=1000)
    approved_by: str = Field(min_length=1, max_length=256)
    approved_at: UtcDatetime


EVENTS: tuple[type[EventData], ...] = (
    ChangeOrderApproved,
    ChangeOrderRejected,
    ChangeOrderOverrunApproved,
)
