"""Replaying the whole input twice (fresh schema, consumer group and output topics
each time, the second time with every input record delivered twice) produces
byte-identical billing output: same ids, same amounts, one invoice per customer, and
the same accounting documents (one per invoice and target)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from billing_factory import workload
from billing_harness import connect, running, settings_for, setup_topics

from billing.assets import sightings_of
from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events.topics import (
    BILLING_INVOICES,
    BILLING_LINE_ITEMS,
    CHANGE_ORDERS,
    CONTRACTS,
    FINANCE_ACCOUNTING,
    MONITORING,
    TICKETS,
)
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

CUSTOMERS, PER_CUSTOMER = 6, 12


async def produce_inputs(kafka: str, namespace: str, inputs: dict[str, Any]) -> None:
    # tickets first: some entries are read before their customer's contract
    await produce(kafka, TICKETS.named(namespace), inputs["tickets"])
    await produce(kafka, CHANGE_ORDERS.named(namespace), inputs["orders"])
    await produce(kafka, CONTRACTS.named(namespace), inputs["contracts"])
    await produce(kafka, MONITORING.named(namespace), inputs["monitoring"])


async def run_once(
    kafka: str, database_url: str, namespace: str, schema: str, label: str, *, seen: int
) -> dict[str, list[bytes]]:
    schema = f"{schema}_{label}"
    out = f"{namespace}{label}_"
    await migrate(database_url, schema=schema, package="billing")
    settings = settings_for(
        kafka,
        database_url,
        namespace,
        schema,
        service_name=f"billing-{label}",
        output_namespace=out,
    )
    db = await connect(database_url, schema)
    try:
        async with running(settings) as api:

            async def settled() -> bool:
                entries = await db.fetchval(
                    "SELECT count(*) FROM entries WHERE NOT pending AND EXISTS "
                    "(SELECT 1 FROM line_items l WHERE l.entry_id = entries.entry_id)"
                )
                releases = await db.fetchval(
                    "SELECT count(*) FROM line_items WHERE rule = 'late_change_order_approval'"
                )
                # every overrun approval applied (each releases in its own transaction)
                overruns = await db.fetchval(
                    "SELECT count(*) FROM change_orders WHERE overrun_approved_at IS NOT NULL"
                )
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                sightings = await db.fetchval("SELECT count(*) FROM assets_seen")
                done = entries == CUSTOMERS * PER_CUSTOMER and overruns == (CUSTOMERS + 1) // 2
                return bool(done and releases and not unsent and sightings == seen)

            await wait_for_async(settled, timeout=90, message=f"run {label} settled")
            run = {"period": "2026-03", "as_of": "2026-04-01T06:00:00Z"}
            first = (await api.post("/v1/invoice-runs", json=run)).json()
            assert {o["outcome"] for o in first["outcomes"]} == {"issued"}
            again = (await api.post("/v1/invoice-runs", json=run)).json()
            assert {o["outcome"] for o in again["outcomes"]} == {"already_issued"}
            await wait_for_async(
                lambda: db.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"),
                timeout=60,
                message="invoices relayed",
            )

            async def handed_off() -> bool:
                docs = await read_topic(kafka, FINANCE_ACCOUNTING.named(out))
                return len(docs) >= 2 * CUSTOMERS  # Xero and QuickBooks per invoice

            await wait_for_async(handed_off, timeout=60, message="accounting documents")
    finally:
        await db.close()
    return {
        t.name: sorted(r.value for r in await read_topic(kafka, t.named(out)))
        for t in (BILLING_LINE_ITEMS, BILLING_INVOICES, FINANCE_ACCOUNTING)
    }


async def test_replay_twice_gives_byte_identical_output(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(
        kafka_bootstrap, namespace, f"{namespace}a_", f"{namespace}b_", f"{namespace}c_"
    )
    inputs = workload(CUSTOMERS, PER_CUSTOMER)
    seen = len(sightings_of(inputs["monitoring"]))  # rows the consumer stores
    await produce_inputs(kafka_bootstrap, namespace, inputs)
    first = await run_once(kafka_bootstrap, database_url, namespace, schema, "a", seen=seen)
    second = await run_once(kafka_bootstrap, database_url, namespace, schema, "b", seen=seen)
    await produce_inputs(kafka_bootstrap, namespace, inputs)  # every record twice now
    third = await run_once(kafka_bootstrap, database_url, namespace, schema, "c", seen=seen)

    assert first == second == third
    lines = first[BILLING_LINE_ITEMS.name]
    assert len(lines) >= CUSTOMERS * PER_CUSTOMER
    invoices = first[BILLING_INVOICES.name]
    assert len(invoices) == CUSTOMERS  # one invoice per customer, never two
    assert len(set(invoices)) == CUSTOMERS
    assert len(set(first[FINANCE_ACCOUNTING.name])) == 2 * CUSTOMERS
    every = ("scope_creep", "project", "covered", "on_demand", "held_review", "overage")
    kinds = Counter(k for v in lines for k in every if f'"classification":"{k}"' in v.decode())
    assert all(kinds[k] for k in every), kinds
    for rule in (
        b"late_change_order_approval",
        b"included_hours_overage",
        b"change_order_budget_exceeded",
        b"change_order_overrun_approved",
    ):
        assert any(rule in v for v in lines), rule
    # the per-user version (from 16 March) bills the 27 users seen, above its 25
    assert any(b"peak seen 27 on 2026-03-16: billed 27 users" in v for v in invoices)
