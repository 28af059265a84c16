"""The accounting hand-off on the real broker and Postgres: the simulator's month
(seed 1, 30 customers) through billing, its invoice run and a credit note, become Xero
and QuickBooks Online documents that the vendors' shapes accept and that sum to each
invoice and credit note to the cent; running the hand-off again over the same billing
topic (a fresh consumer group and schema) gives byte-identical documents."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from accounting_checks import check_qbo, check_xero, parse
from billing_harness import connect, running, settings_for, setup_topics

from billing.__main__ import add_accounting
from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import decode
from msp_events.topics import (
    BILLING_INVOICES,
    CHANGE_ORDERS,
    CONTRACTS,
    FINANCE_ACCOUNTING,
    TICKETS,
    topic_for,
)
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued
from msp_events.types.finance import AccountingDocumentPrepared
from msp_plumbing.migrations import migrate
from msp_plumbing.runtime import ServiceRuntime
from msp_simulator.scenario import generate

pytestmark = pytest.mark.integration


async def play_month(kafka: str, namespace: str) -> int:
    """The month's contracts, change orders and tickets on billing's input topics;
    returns the number of time entries."""
    month = generate(seed=1)
    events = [e for post in month.posts for e in post.events]
    for topic in (CONTRACTS, CHANGE_ORDERS, TICKETS):
        await produce(
            kafka, topic.named(namespace), [e for e in events if topic_for(e.type) == topic]
        )
    return sum(1 for e in events if e.type == "msp.ticket.time_logged.v1")


async def documents(kafka: str, topic: str) -> list[bytes]:
    return sorted(r.value for r in await read_topic(kafka, topic))


async def test_simulated_month_hands_off_valid_documents_that_add_up_and_rerun_identically(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    entries = await play_month(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    settings = settings_for(kafka_bootstrap, database_url, namespace, schema)
    finance = FINANCE_ACCOUNTING.named(namespace)
    db = await connect(database_url, schema)
    try:
        async with running(settings) as api:

            async def settled() -> bool:
                done = await db.fetchval(
                    "SELECT count(DISTINCT entry_id) FROM line_items"
                )  # every entry recorded, nothing left to relay
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                return bool(done == entries and not unsent)

            await wait_for_async(settled, timeout=240, message="the month's entries recorded")
            run = {"period": "2026-03", "as_of": "2026-04-02T00:00:00Z"}
            outcomes = (await api.post("/v1/invoice-runs", json=run)).json()["outcomes"]
            issued = [o["invoice_id"] for o in outcomes if o["outcome"] == "issued"]
            assert len(issued) >= 24, outcomes  # every managed customer at least
            invoice = (await api.get(f"/v1/invoices/{issued[0]}")).json()
            credit = await api.post(
                f"/v1/invoices/{issued[0]}/credit-notes",
                json={"line_ids": [invoice["lines"][0]["line_id"]], "reason": "SLA credit"},
            )
            assert credit.status_code == 201, credit.text
            expected_docs = 2 * (len(issued) + 1)

            async def handed_off() -> bool:
                return len(await read_topic(kafka_bootstrap, finance)) >= expected_docs

            await wait_for_async(handed_off, timeout=120, message="documents for every invoice")
    finally:
        await db.close()

    sources: dict[str, InvoiceIssued | CreditNoteIssued] = {}
    for record in await read_topic(kafka_bootstrap, BILLING_INVOICES.named(namespace)):
        data = decode(record.value).data
        sources[data.invoice_id if isinstance(data, InvoiceIssued) else data.credit_note_id] = data
    first = await documents(kafka_bootstrap, finance)
    assert len(first) == expected_docs  # one per (document, target), none twice
    seen: Counter[tuple[str, str]] = Counter()
    currencies = set()
    for value in first:
        doc = decode(value).data
        assert isinstance(doc, AccountingDocumentPrepared)
        seen[doc.target, doc.kind] += 1
        source = sources[doc.source_id]
        expected = source.subtotal if isinstance(source, InvoiceIssued) else source.total
        body: Any = parse(doc.document)
        if doc.target == "xero":
            check_xero(doc.resource, doc.document)
            amounts = [line["LineAmount"] for line in body[doc.resource][0]["LineItems"]]
        else:
            check_qbo(doc.document)
            amounts = [line["Amount"] for line in body["Line"]]
        assert sum(amounts, Decimal(0)) == expected == doc.subtotal, doc.document_id
        currencies.add(doc.currency)
    assert seen == {
        ("xero", "invoice"): len(issued), ("qbo", "invoice"): len(issued),
        ("xero", "credit_note"): 1, ("qbo", "credit_note"): 1,
    }  # fmt: skip
    assert {"USD", "EUR", "GBP", "JPY", "AUD"} <= currencies

    # The hand-off again, alone, over the same invoices topic: same ids, same bytes.
    rerun_ns = f"{namespace}again_"
    await setup_topics(kafka_bootstrap, namespace, rerun_ns)
    await migrate(database_url, schema=f"{schema}_again", package="billing")
    again = settings_for(
        kafka_bootstrap, database_url, namespace, f"{schema}_again",
        service_name="billing-again", output_namespace=rerun_ns,
    )  # fmt: skip
    runtime = ServiceRuntime(again)
    add_accounting(runtime, again, invoices_namespace=namespace)
    await runtime.start()
    try:

        async def rerun_done() -> bool:
            got = await read_topic(kafka_bootstrap, FINANCE_ACCOUNTING.named(rerun_ns))
            return len(got) >= expected_docs

        await wait_for_async(rerun_done, timeout=120, message="the re-run's documents")
    finally:
        await runtime.stop()
    assert await documents(kafka_bootstrap, FINANCE_ACCOUNTING.named(rerun_ns)) == first
