"""The API's request and response schemas (pydantic). Bad input is a 422 naming the
field (FastAPI's validation), or a 400/404/409 with a `detail` saying what is wrong."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from msp_events.base import Identifier
from msp_events.types.billing import Period


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InvoiceRunCreate(_Input):
    period: Period
    customer_id: Identifier | None = Field(default=None, description="One customer, else all")
    as_of: AwareDatetime | None = Field(
        default=None,
        description="Issue time of the invoices (default: now); the period "
        "must have ended in each customer's time zone by then",
    )


class RunOutcomeRead(BaseModel):
    customer_id: str
    outcome: str
    invoice_id: str | None = None
    total: str | None = None
    currency: str | None = None
    detail: str | None = None


class InvoiceRunRead(BaseModel):
    period: str
    outcomes: list[RunOutcomeRead]


Target = Literal["covered", "project", "on_demand", "warranty", "scope_creep"]


class ReclassifyCreate(_Input):
    classification: Target
    reason: str = Field(min_length=1, max_length=1900)
    change_order_id: Identifier | None = None


class CreditNoteCreate(_Input):
    line_ids: list[Identifier] = Field(min_length=1, description="Invoice lines to credit")
    reason: str = Field(min_length=1, max_length=2000)


class LineItemsRead(BaseModel):
    line_items: list[dict[str, Any]]
