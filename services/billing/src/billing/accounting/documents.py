"""What both accounting targets share: the source document (an invoice or a credit
note), deterministic ids and numbers, the due date, and JSON text with exact amounts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from msp_events import derive_event_id
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued, InvoiceLine
from msp_events.types.finance import AccountingTarget, DocumentKind


@dataclass(frozen=True)
class Source:
    """An issued invoice or credit note, as the mappings read it."""

    kind: DocumentKind
    source_id: str
    invoice_id: str
    customer_id: str
    currency: str
    issued_at: dt.datetime
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax_total: Decimal
    reference: str
    """Xero Reference / QBO PrivateNote: the period of an invoice, the credited
    invoice of a credit note."""

    @property
    def issue_date(self) -> dt.date:
        # The events carry UTC instants, not the customer's zone: the UTC date is the
        # one every system agrees on (an invoice run happens after the local month end).
        return self.issued_at.astimezone(dt.UTC).date()


def source_of(data: InvoiceIssued | CreditNoteIssued, *, customer_id: str) -> Source:
    if isinstance(data, InvoiceIssued):
        return Source(
            "invoice", data.invoice_id, data.invoice_id, customer_id, data.currency,
            data.issued_at, tuple(data.lines), data.subtotal, data.tax_total,
            reference=f"{data.period} {customer_id}",
        )  # fmt: skip
    return Source(
        "credit_note", data.credit_note_id, data.invoice_id, customer_id, data.currency,
        data.issued_at, tuple(data.lines), data.total, Decimal(0),
        reference=f"credits {data.invoice_id}",
    )  # fmt: skip


def document_id(target: AccountingTarget, source: Source) -> str:
    """The same (target, kind, source) always gives the same id: the idempotency key."""
    return f"{target}-" + derive_event_id("accounting", target, source.kind, source.source_id)


def short_number(source: Source) -> str:
    """A document number within QuickBooks' 21 characters: `INV-` / `CN-` and 16 hex
    digits of a digest of the source id (deterministic, unique in practice)."""
    prefix = "INV-" if source.kind == "invoice" else "CN-"
    return prefix + derive_event_id("docnumber", source.source_id).replace("-", "")[:16].upper()


def due_date(source: Source, terms_days: int) -> dt.date:
    return source.issue_date + dt.timedelta(days=terms_days)


def to_json(value: Any) -> str:
    """Compact JSON with Decimals written as exact JSON numbers (`95.00`, `74250`):
    accounting APIs take numbers, and a float would not keep the cents exact."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        return format(value, "f")
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as accounting JSON")
