"""Billing events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class LineItemRecorded(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.billing.line_item_recorded.v1"

    ref: Identifier


class InvoiceIssued(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.billing.invoice_issued.v1"

    ref: Identifier


class CreditNoteIssued(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.billing.credit_note_issued.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (LineItemRecorded, InvoiceIssued, CreditNoteIssued, )
