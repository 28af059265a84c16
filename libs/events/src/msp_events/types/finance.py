"""Finance events, on `msp.finance.accounting.v1`.

Emitted by billing's accounting hand-off (its own consumer group over
`msp.billing.invoices.v1`); consumed by whatever posts to the accounting system. Each
issued invoice and credit note becomes one document per accounting target: a Xero
`Invoices` (Type ACCREC) or `CreditNotes` (Type ACCRECCREDIT) request body, or a
QuickBooks Online `Invoice` or `CreditMemo` request body, exactly as it is to be sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, field_serializer

from msp_events.base import Currency, EventData, Identifier, Money, NonNegativeMoney
from msp_events.money import AMOUNT_DESCRIPTION, amount_text, currency_rules

AccountingTarget = Literal["xero", "qbo"]
"""`xero`: Xero Accounting API; `qbo`: QuickBooks Online Accounting API (v3)."""

DocumentKind = Literal["invoice", "credit_note"]

MAX_DOCUMENT_CHARS = 512_000
"""A document is one invoice's lines: far below the broker's record limit."""


class AccountingDocumentPrepared(EventData):
    """An issued invoice or credit note, mapped onto one accounting system's API.
    Emitted by billing's accounting hand-off, once per document and target.

    `document` is the request body as JSON text (amounts as exact JSON numbers, never
    floats), to POST to `resource`: Xero `Invoices` / `CreditNotes`, QuickBooks Online
    `invoice` / `creditmemo`. `document_id` is derived from (target, kind, source id),
    so re-running the hand-off over the same billing events gives the same ids and the
    same bytes: send it as Xero's `Idempotency-Key` header or QuickBooks' `requestid`
    parameter and a re-send books nothing twice. `unmapped` lists the map entries
    that fell back to a default (e.g. `contacts/cust-001`), for finance to complete.
    """

    event_type: ClassVar[str] = "msp.finance.accounting_document_prepared.v1"
    model_config = ConfigDict(
        json_schema_extra={"allOf": currency_rules(amounts=("subtotal", "tax_total"))}
    )

    document_id: Identifier
    target: AccountingTarget
    kind: DocumentKind
    resource: Literal["Invoices", "CreditNotes", "invoice", "creditmemo"]
    source_id: Identifier = Field(description="The invoice_id or credit_note_id")
    invoice_id: Identifier
    document_number: str = Field(
        min_length=1,
        max_length=64,
        description="Xero InvoiceNumber / CreditNoteNumber, QBO DocNumber",
    )
    currency: Currency
    subtotal: Money = Field(description=f"Sum of the document's line amounts. {AMOUNT_DESCRIPTION}")
    tax_total: NonNegativeMoney = Field(
        description="The source's tax (0: the accounting system computes it). " + AMOUNT_DESCRIPTION
    )
    document: str = Field(min_length=2, max_length=MAX_DOCUMENT_CHARS)
    unmapped: list[str] = Field(default_factory=list, max_length=1000)

    @field_serializer("subtotal", "tax_total", when_used="json")
    def _write_amounts(self, value: Decimal) -> str:
        return amount_text(value, self.currency)


EVENTS: tuple[type[EventData], ...] = (AccountingDocumentPrepared,)
