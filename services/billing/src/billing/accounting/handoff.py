"""`prepare`: one issued invoice or credit note, one accounting target, one document.
A pure function of the billing event and the maps: the same inputs give the same
document id, number and bytes (the hand-off's idempotency)."""

from __future__ import annotations

from billing.accounting import qbo, xero
from billing.accounting.documents import Source, document_id, short_number, source_of, to_json
from billing.accounting.maps import AccountingMaps
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued
from msp_events.types.finance import AccountingDocumentPrepared, AccountingTarget

TARGETS: tuple[AccountingTarget, ...] = ("xero", "qbo")


def prepare(
    data: InvoiceIssued | CreditNoteIssued,
    *,
    customer_id: str,
    target: AccountingTarget,
    maps: AccountingMaps,
) -> AccountingDocumentPrepared:
    source = source_of(data, customer_id=customer_id)
    return prepare_source(source, target=target, maps=maps)


def prepare_source(
    source: Source, *, target: AccountingTarget, maps: AccountingMaps
) -> AccountingDocumentPrepared:
    if target == "xero":
        # Xero's InvoiceNumber / CreditNoteNumber hold our own id (up to 255 chars)
        number = source.source_id
        resource, body, unmapped = xero.document(source, maps, number)
    else:
        number = short_number(source)  # QuickBooks' DocNumber holds 21 characters
        resource, body, unmapped = qbo.document(source, maps, number)
    return AccountingDocumentPrepared(
        document_id=document_id(target, source),
        target=target,
        kind=source.kind,
        resource=resource,
        source_id=source.source_id,
        invoice_id=source.invoice_id,
        document_number=number,
        currency=source.currency,
        subtotal=source.subtotal,
        tax_total=source.tax_total,
        document=to_json(body),
        unmapped=unmapped,
    )
