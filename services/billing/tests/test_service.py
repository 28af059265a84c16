"""Scenario through the real broker and Postgres: the service in-process (consumer,
outbox relay, API) classifies, prices, invoices, reclassifies and credits."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from billing_factory import NY, entry, entry_event, local, managed_ny, on_demand_ny, snapshot_event
from billing_harness import connect, events_on, running, settings_for, setup_topics

from msp_devstack.testkit import produce, wait_for_async
from msp_events import Envelope, make_event
from msp_events.topics import (
    BILLING_INVOICES,
    BILLING_LINE_ITEMS,
    CHANGE_ORDERS,
    CONTRACTS,
    DEAD_LETTER,
    TICKETS,
)
from msp_events.tracing import TraceContext, with_trace
from msp_events.types.change_orders import ChangeOrderApproved, ChangeOrderRejected
from msp_events.types.tickets import TicketCreated
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

MANAGED = managed_ny()


def change_order(customer: str, co: str, approved_at: datetime, **kw: Any) -> Envelope:
    data = ChangeOrderApproved(
        change_order_id=co,
        scope="the agreed work",
        approved_by="cfo@customer.example",
        approved_at=approved_at,
        **kw,
    )
    return make_event(
        data, customer_id=customer, source="/test/crm", time=approved_at, id=f"co-{customer}-{co}"
    )


def ticket(customer: str, ticket_id: str, title: str, category: str) -> Envelope:
    data = TicketCreated(
        ticket_id=ticket_id,
        title=title,
        priority="P3",
        category=category,
        source="phone",
        opened_at=local(NY, 2026, 3, 1, 9),
    )
    return make_event(
        data,
        customer_id=customer,
        source="/test/psa",
        time=data.opened_at,
        id=f"tc-{customer}-{ticket_id}",
    )


def acme_entries() -> dict[str, Any]:
    return {
        "covered": entry(local(NY, 2026, 3, 10, 10), 30, "help_desk", ticket_id="T-1"),
        "creep": entry(local(NY, 2026, 3, 11, 10), 60, "installation", ticket_id="T-2"),
        "project": entry(
            local(NY, 2026, 3, 12, 10), 90, "installation", ticket_id="T-3", change_order_id="CO-1"
        ),
        "warranty": entry(
            local(NY, 2026, 3, 12, 14), 60, "help_desk", ticket_id="T-4", warranty_claim_ref="RMA-1"
        ),
        "held": entry(local(NY, 2026, 3, 13, 10), 45, "gardening", ticket_id="T-5"),
        "excluded": entry(
            local(NY, 2026, 3, 16, 10), 60, "help_desk", ticket_id="T-6", asset_id="ws-legacy-xp01"
        ),
    }


async def lines_of(db: asyncpg.Connection, entry_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT * FROM line_items WHERE entry_id = $1 ORDER BY segment", entry_id
    )
    return rows


async def drained(db: asyncpg.Connection) -> bool:
    return not await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


async def test_classify_price_invoice_reclassify_and_credit(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    db = await connect(database_url, schema)
    acme = acme_entries()
    bob = entry(local(NY, 2026, 3, 10, 17), 120, "help_desk", ticket_id="B-1")
    zed = entry(local(NY, 2026, 3, 10, 11), 20, "patching", ticket_id="Z-1")
    topic = {t.name: t.named(namespace) for t in (CONTRACTS, CHANGE_ORDERS, TICKETS)}
    await produce(
        kafka_bootstrap,
        topic[CONTRACTS.name],
        [snapshot_event("acme", MANAGED), snapshot_event("bob", on_demand_ny())],
    )
    await produce(
        kafka_bootstrap,
        topic[CHANGE_ORDERS.name],
        [change_order("acme", "CO-1", local(NY, 2026, 3, 1, 9), ticket_ids=["T-3"])],
    )
    await produce(
        kafka_bootstrap,
        topic[TICKETS.name],
        [
            ticket("acme", "T-2", "Install new office printer fleet", "installation"),
            *[entry_event("acme", e) for e in acme.values()],
            entry_event("bob", bob),
            entry_event("zed", zed),  # before zed's contract
        ],
    )
    settings = settings_for(kafka_bootstrap, database_url, namespace, schema)
    async with running(settings) as api:

        async def recorded(n: int) -> bool:
            count = await db.fetchval("SELECT count(DISTINCT entry_id) FROM line_items")
            return bool(count == n) and await drained(db)

        await wait_for_async(lambda: recorded(7), timeout=60, message="acme + bob recorded")
        assert await db.fetchval("SELECT pending FROM entries WHERE entry_id = $1", zed.entry_id)

        # -- every entry in exactly one bucket, with rule and reason ------------------
        kinds = {
            k: [(r["classification"], r["rule"]) for r in await lines_of(db, e.entry_id)]
            for k, e in acme.items()
        }
        assert kinds == {
            "covered": [("covered", "covered_category")],
            "creep": [("scope_creep", "no_change_order")],
            "project": [("project", "approved_change_order")],
            "warranty": [("warranty", "warranty_claim")],
            "held": [("held_review", "unclassified")],
            "excluded": [("on_demand", "excluded_asset")],
        }
        bob_lines = await lines_of(db, bob.entry_id)
        assert [r["amount"] for r in bob_lines] == [Decimal("100.00"), Decimal("150.00")]

        # -- bad input on the topic: dead-lettered with the reason, nothing else lost --
        await produce(kafka_bootstrap, topic[TICKETS.name], raw=[(b"acme", b"{not json")])

        async def dead_letters() -> list[dict[str, Any]]:
            return await events_on(kafka_bootstrap, DEAD_LETTER.named(namespace))

        [letter] = await wait_for_async(dead_letters, timeout=60, message="a dead letter")
        assert letter["data"]["reason"].startswith("invalid event")
        assert letter["customerid"] == "acme"

        # -- a contract arriving late releases the waiting entry ----------------------
        await produce(kafka_bootstrap, topic[CONTRACTS.name], [snapshot_event("zed", MANAGED)])
        await wait_for_async(lambda: recorded(8), timeout=60, message="zed classified")
        [zed_line] = await lines_of(db, zed.entry_id)
        assert zed_line["classification"] == "covered"

        # -- scope creep: on the report ----------------------------------------------
        report = (await api.get("/v1/reports/scope-creep", params={"period": "2026-03"})).json()
        [acme_creep] = report["customers"]
        assert acme_creep["customer_id"] == "acme" and acme_creep["minutes"] == 60
        [t2] = acme_creep["tickets"]
        assert (t2["ticket_id"], t2["title"]) == ("T-2", "Install new office printer fleet")
        assert t2["entries"] == [acme["creep"].entry_id]

        # -- the invoice run: idempotent, scope creep on no invoice --------------------
        run = {"period": "2026-03", "as_of": "2026-04-01T12:00:00Z"}
        first = (await api.post("/v1/invoice-runs", json=run)).json()
        outcomes = {o["customer_id"]: o for o in first["outcomes"]}
        assert {c: o["outcome"] for c, o in outcomes.items()} == dict.fromkeys(
            ["acme", "bob", "zed"], "issued"
        )
        assert outcomes["acme"]["total"] == "1250.00"  # fee 1000 + project 150 + excluded 100
        assert outcomes["bob"]["total"] == "250.00"
        assert outcomes["zed"]["total"] == "1000.00"
        again = (await api.post("/v1/invoice-runs", json=run)).json()
        assert [(o["invoice_id"], o["total"]) for o in again["outcomes"]] == [
            (o["invoice_id"], o["total"]) for o in first["outcomes"]
        ]
        assert {o["outcome"] for o in again["outcomes"]} == {"already_issued"}
        invoice = (await api.get(f"/v1/invoices/{outcomes['acme']['invoice_id']}")).json()
        creep_ids = {r["line_item_id"] for r in await lines_of(db, acme["creep"].entry_id)}
        invoiced = {i for line in invoice["lines"] for i in line["source_line_item_ids"]}
        assert invoiced and not invoiced & creep_ids
        assert sorted(line["classification"] for line in invoice["lines"]) == [
            "flat_fee",
            "on_demand",
            "project",
            "warranty",
        ]

        # -- late entry after close: next month, prior period -------------------------
        late = entry(
            local(NY, 2026, 3, 20, 10), 60, "installation", ticket_id="T-3", change_order_id="CO-1"
        )
        await produce(kafka_bootstrap, topic[TICKETS.name], [entry_event("acme", late)])
        await wait_for_async(lambda: recorded(9), timeout=60, message="late entry")
        [late_line] = await lines_of(db, late.entry_id)
        assert (late_line["period"], late_line["prior_period"]) == ("2026-04", True)

        # -- late change-order approval releases the scope creep (audited) ------------
        await produce(
            kafka_bootstrap,
            topic[CHANGE_ORDERS.name],
            [change_order("acme", "CO-2", local(NY, 2026, 4, 2, 9), ticket_ids=["T-2"])],
        )

        async def released() -> bool:
            [row] = await lines_of(db, acme["creep"].entry_id)
            return row["classification"] == "project" and await drained(db)

        await wait_for_async(released, timeout=60, message="scope creep released")
        [creep_line] = await lines_of(db, acme["creep"].entry_id)
        assert (creep_line["rule"], creep_line["period"], creep_line["revision"]) == (
            "late_change_order_approval",
            "2026-04",
            2,
        )

        # -- the review queue and a person's reclassification -------------------------
        queue = (await api.get("/v1/review-queue", params={"customer_id": "acme"})).json()
        [held] = queue["line_items"]
        assert held["entry_id"] == acme["held"].entry_id and held["rule"] == "unclassified"
        body = {
            "classification": "covered",
            "reason": "garden irrigation controller is IT",
        }
        with_actor = await api.post(
            f"/v1/line-items/{held['line_item_id']}/reclassify",
            json={**body, "by": "someone-else@msp.example"},
        )
        assert with_actor.status_code == 422 and with_actor.json()["errors"][0]["pointer"] == "/by"
        response = await api.post(f"/v1/line-items/{held['line_item_id']}/reclassify", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["line_items"][0]["classification"] == "covered"
        assert (await api.get("/v1/review-queue")).json()["line_items"] == []
        covered_id = (await lines_of(db, acme["covered"].entry_id))[0]["line_item_id"]
        refused = await api.post(f"/v1/line-items/{covered_id}/reclassify", json=body)
        assert refused.status_code == 409 and "held" in refused.json()["message"]
        assert (await api.post("/v1/line-items/li-nope/reclassify", json=body)).status_code == 404

        # -- a credit note releases exactly what it credits ---------------------------
        project_line = next(li for li in invoice["lines"] if li["classification"] == "project")
        credit = {
            "line_ids": [project_line["line_id"]],
            "reason": "install was redone",
        }
        path = f"/v1/invoices/{invoice['invoice_id']}/credit-notes"
        created = await api.post(path, json=credit)
        assert created.status_code == 201, created.text
        assert created.json()["total"] == "150.00"
        repeat = await api.post(path, json=credit)
        assert repeat.status_code == 200
        assert repeat.json()["credit_note_id"] == created.json()["credit_note_id"]
        [credited] = await lines_of(db, acme["project"].entry_id)
        assert (credited["classification"], credited["rule"], credited["invoice_id"]) == (
            "held_review",
            "credited",
            None,
        )
        others = await db.fetchval(
            "SELECT count(*) FROM line_items WHERE invoice_id = $1", invoice["invoice_id"]
        )
        assert others == 2  # warranty + excluded stay invoiced

        # -- reports, ledger, bad input, metrics --------------------------------------
        ledger = (await api.get("/v1/customers/acme/ledger/2026-04")).json()["line_items"]
        assert {li["entry_id"] for li in ledger} == {
            late.entry_id,
            acme["creep"].entry_id,
            acme["project"].entry_id,
            acme["held"].entry_id,  # reclassified after March closed: April, prior period
        }
        assert all(li["prior_period"] for li in ledger)
        assert all(li["rule"] and li["reason"] for li in ledger)
        csv = (await api.get("/v1/customers/acme/ledger/2026-03", params={"format": "csv"})).text
        assert csv.splitlines()[0].startswith("line_item_id,work_date") and "covered" in csv
        hours = (await api.get("/v1/reports/hours", params={"customer_id": "acme"})).json()
        [acme_hours] = hours["customers"]
        assert acme_hours["covered_hours"] == "1.25"  # 30 min help desk + 45 min reclassified
        assert acme_hours["billable_hours"] == "3.00"  # 60 excluded + 60 late + 60 released
        march = await api.get("/v1/reports/hours", params={"period": "2026-03"})
        by_customer = {c["customer_id"]: c for c in march.json()["customers"]}
        # zed: fee 1000 bought 20 minutes of patching
        assert by_customer["zed"]["flat_fee"] == "1000.00"
        assert by_customer["zed"]["flat_fee_per_covered_hour"] == "3000.00"
        bad = await api.post("/v1/invoice-runs", json={"period": "2026-13"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/period"
        unknown = await api.post("/v1/invoice-runs", json={"period": "2026-03", "bogus": 1})
        assert unknown.status_code == 422
        early = (
            await api.post(
                "/v1/invoice-runs", json={"period": "2026-04", "as_of": "2026-04-20T00:00:00Z"}
            )
        ).json()
        assert {o["outcome"] for o in early["outcomes"]} == {"period_not_ended"}
        metrics = (await api.get("/metrics")).text
        for name in (
            "msp_billing_line_items_total",
            "msp_billing_scope_creep_minutes_total",
            "msp_billing_invoice_runs_total",
            "msp_billing_held_items_total",
        ):
            assert name in metrics

        # -- a withdrawn change order: its unbilled work goes back to scope creep -----
        withdrawn = ChangeOrderRejected(
            change_order_id="CO-1",
            reason="customer withdrew the approval",
            rejected_by="cfo@customer.example",
            rejected_at=local(NY, 2026, 4, 10, 9),
        )
        await produce(
            kafka_bootstrap,
            topic[CHANGE_ORDERS.name],
            [
                make_event(
                    withdrawn,
                    customer_id="acme",
                    source="/test/crm",
                    time=withdrawn.rejected_at,
                    id="co-acme-CO-1-rejected",
                )
            ],
        )

        async def withdrawn_applied() -> bool:
            [row] = await lines_of(db, late.entry_id)
            return row["classification"] == "scope_creep" and await drained(db)

        await wait_for_async(withdrawn_applied, timeout=60, message="CO-1 withdrawal applied")
        [late_line] = await lines_of(db, late.entry_id)
        assert late_line["rule"] == "change_order_rejected"
        [credited] = await lines_of(db, acme["project"].entry_id)
        assert credited["rule"] == "credited"  # held for review, untouched

        # -- next month: prior-period lines on April's invoice ------------------------
        april = (
            await api.post(
                "/v1/invoice-runs",
                json={"period": "2026-04", "customer_id": "acme", "as_of": "2026-05-01T12:00:00Z"},
            )
        ).json()
        [outcome] = april["outcomes"]
        assert outcome["total"] == "1100.00"  # fee 1000 + released 100 (late is scope creep)
        await wait_for_async(lambda: drained(db), timeout=60, message="outbox drained")

    # -- the topics: every output exactly once ---------------------------------------
    lines = await events_on(kafka_bootstrap, BILLING_LINE_ITEMS.named(namespace))
    ids = Counter(e["id"] for e in lines)
    assert max(ids.values()) == 1
    types = Counter(e["type"] for e in lines)
    # released, manual, credited, withdrawn
    assert types["msp.billing.line_item_reclassified.v1"] == 4
    invoices = await events_on(kafka_bootstrap, BILLING_INVOICES.named(namespace))
    issued = Counter(
        e["data"]["invoice_id"] for e in invoices if e["type"] == "msp.billing.invoice_issued.v1"
    )
    assert len(issued) == 4 and set(issued.values()) == {1}
    assert sum(e["type"] == "msp.billing.credit_note_issued.v1" for e in invoices) == 1
    assert all(r["customerid"] in {"acme", "bob", "zed"} for r in lines + invoices)
    await db.close()
    _ = httpx, UTC


async def test_line_items_continue_the_trace_of_their_time_entry(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    db = await connect(database_url, schema)
    trace = TraceContext.new()
    traced = entry(local(NY, 2026, 3, 10, 17), 120, "help_desk", ticket_id="B-1")
    plain = entry(local(NY, 2026, 3, 11, 10), 30, "help_desk", ticket_id="B-2")
    await produce(
        kafka_bootstrap, CONTRACTS.named(namespace), [snapshot_event("bob", on_demand_ny())]
    )
    traced_event = with_trace(entry_event("bob", traced), trace)
    await produce(
        kafka_bootstrap, TICKETS.named(namespace), [traced_event, entry_event("bob", plain)]
    )
    try:
        async with running(settings_for(kafka_bootstrap, database_url, namespace, schema)):
            await wait_for_async(lambda: drained_lines(db, 2), timeout=60, message="2 entries")
    finally:
        await db.close()
    items = [
        e
        for e in await events_on(kafka_bootstrap, BILLING_LINE_ITEMS.named(namespace))
        if e["type"] == "msp.billing.line_item_recorded.v1"
    ]
    by_source = {e["data"]["source_event_ids"][0]: e for e in items}
    ctx = TraceContext.parse(by_source[traced_event.id]["traceparent"])
    assert ctx is not None and ctx.trace_id == trace.trace_id and ctx.span_id != trace.span_id
    assert "traceparent" not in by_source[entry_event("bob", plain).id]


async def drained_lines(db: asyncpg.Connection, entries: int) -> bool:
    count = await db.fetchval("SELECT count(DISTINCT entry_id) FROM line_items")
    return bool(count == entries) and await drained(db)
