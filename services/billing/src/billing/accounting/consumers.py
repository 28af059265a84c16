"""The accounting hand-off's consumer group (`billing.accounting`): it reads
`msp.billing.invoices.v1` where billing writes it and publishes one
`AccountingDocumentPrepared` per target on `msp.finance.accounting.v1`, through the
outbox, in the consumer's transaction. It keeps no state of its own: the event id is
derived from the document id, so a duplicate delivery, a restart or a replay from
the beginning publishes nothing twice (the processed ids and the outbox drop it)."""

from __future__ import annotations

from collections.abc import Sequence

from billing.accounting.handoff import prepare
from billing.accounting.maps import AccountingMaps
from msp_events import Envelope, derive_event_id, make_event
from msp_events.topics import FINANCE_ACCOUNTING
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued
from msp_events.types.finance import AccountingTarget
from msp_plumbing.consumer import Handler, Tx

SOURCE = "/billing/accounting"


def make_handler(
    *, maps: AccountingMaps, targets: Sequence[AccountingTarget], out_namespace: str
) -> Handler:
    topic = FINANCE_ACCOUNTING.named(out_namespace)

    async def handle(tx: Tx, event: Envelope) -> None:
        data = event.data
        if not isinstance(data, InvoiceIssued | CreditNoteIssued):
            return
        for target in targets:
            doc = prepare(data, customer_id=event.customer_id, target=target, maps=maps)
            out = make_event(
                doc,
                customer_id=event.customer_id,
                source=SOURCE,
                time=event.time,
                subject=doc.document_id,
                id=derive_event_id(doc.document_id, "prepared"),
            )
            tx.emit(out, topic=topic, cause=event)

    return handle
