"""Corrections to issued invoices: `build_credit_note(...)`.

Issued invoices never change. A credit note credits whole invoice lines (never part of
one, never one twice) and releases exactly the line items behind the lines it credits:
those go back to the hold-for-review queue, from where they are reclassified or billed
again (next open period, as prior-period lines). Its id is derived from the invoice
and the credited line ids, so repeating a request is a no-op.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from decimal import Decimal

from msp_events import derive_event_id
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued


def credit_note_id(invoice_id: str, line_ids: Sequence[str]) -> str:
    return "cn-" + derive_event_id(invoice_id, "credit", *sorted(set(line_ids)))


def build_credit_note(
    invoice: InvoiceIssued,
    *,
    line_ids: Sequence[str],
    reason: str,
    issued_at: dt.datetime,
    already_credited: Collection[str] = (),
) -> tuple[CreditNoteIssued, list[str]]:
    """The credit note and the line item ids it releases. ValueError names the line
    that cannot be credited."""
    if not line_ids:
        raise ValueError("line_ids: at least one invoice line to credit")
    by_id = {line.line_id: line for line in invoice.lines}
    for line_id in line_ids:
        if line_id not in by_id:
            raise ValueError(f"line_ids: {line_id} is not a line of invoice {invoice.invoice_id}")
        if line_id in already_credited:
            raise ValueError(f"line_ids: {line_id} was already credited")
    note_id = credit_note_id(invoice.invoice_id, line_ids)
    chosen = [by_id[i] for i in dict.fromkeys(line_ids)]
    lines = [
        line.model_copy(
            update={
                "line_id": "cl-" + derive_event_id(note_id, line.line_id),
                "description": f"Credit: {line.description}"[:4000],
            }
        )
        for line in chosen
    ]
    note = CreditNoteIssued(
        credit_note_id=note_id,
        invoice_id=invoice.invoice_id,
        reason=reason,
        issued_at=issued_at,
        currency=invoice.currency,
        lines=lines,
        total=sum((line.line_amount for line in lines), Decimal(0)),
    )
    released = [i for line in chosen for i in line.source_line_item_ids]
    return note, released
