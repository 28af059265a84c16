"""Included hours through the real broker and Postgres: the invoice run bills covered
work beyond the allowance as overage (invoice, ledger, audit), and carries unused hours
to the next month (capped)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from billing_factory import NY, entry, entry_event, local, managed_ny, snapshot_event
from billing_harness import connect, events_on, running, settings_for, setup_topics

from msp_devstack.testkit import produce, wait_for_async
from msp_events.topics import BILLING_LINE_ITEMS, CONTRACTS, TICKETS
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

BLOCK = managed_ny(
    covered_categories=["help_desk", "patching"],
    included_hours={
        "hours_per_month": Decimal("10"),
        "categories": ["help_desk"],
        "overage_hourly": Decimal("150.00"),
        "rollover": "capped",
        "rollover_cap_hours": Decimal("2"),
    },
)


def month_of_work(month: int, *minutes: int) -> list[Any]:
    """Help-desk work on consecutive days from the 6th, 09:00 New York, in these
    lengths, one ticket each (under the contract's project size threshold)."""
    return [
        entry(local(NY, 2026, month, 6 + i, 9), m, ticket_id=f"T-{month}-{i}")
        for i, m in enumerate(minutes)
    ]


async def test_overage_beyond_the_included_hours_and_a_capped_rollover(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    march = month_of_work(3, 240, 240, 240)  # 12 h: 2 h overage
    april = month_of_work(4, 240, 240)  # 8 h: 2 h unused, carried (cap 2 h)
    may = month_of_work(5, 240, 240, 240, 60)  # 13 h against 10 h + 2 h carried: 1 h over
    work = march + april + may
    await produce(kafka_bootstrap, CONTRACTS.named(namespace), [snapshot_event("blk", BLOCK)])
    await produce(kafka_bootstrap, TICKETS.named(namespace), [entry_event("blk", e) for e in work])
    db = await connect(database_url, schema)
    try:
        async with running(settings_for(kafka_bootstrap, database_url, namespace, schema)) as api:

            async def recorded() -> bool:
                n = await db.fetchval("SELECT count(DISTINCT entry_id) FROM line_items")
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                return bool(n == len(work) and not unsent)

            await wait_for_async(recorded, timeout=90, message="every entry recorded")

            async def run(period: str, as_of: str) -> dict[str, Any]:
                body = {"period": period, "as_of": as_of}
                [outcome] = (await api.post("/v1/invoice-runs", json=body)).json()["outcomes"]
                assert outcome["outcome"] == "issued", outcome
                invoice: dict[str, Any] = (
                    await api.get(f"/v1/invoices/{outcome['invoice_id']}")
                ).json()
                return invoice

            # -- March: 10 h included, 12 h worked: 2 h at USD 150.00 = 300.00 ---------
            invoice = await run("2026-03", "2026-04-01T12:00:00Z")
            assert invoice["total"] == "1300.00"  # fee 1000.00 + 300.00, by hand
            [overage] = [x for x in invoice["lines"] if x["classification"] == "overage"]
            assert (overage["quantity"], overage["unit_amount"], overage["line_amount"]) == (
                "2",
                "150.00",
                "300.00",
            )
            assert overage["item_code"] == "MSP-OVERAGE-HOUR"
            ledger = (await api.get("/v1/customers/blk/ledger/2026-03")).json()["line_items"]
            by_rule = {x["rule"]: x for x in ledger if x["entry_id"] == march[2].entry_id}
            assert by_rule["included_hours"]["minutes_worked"] == 120
            assert "10.00 included hours" in by_rule["included_hours"]["reason"]
            assert by_rule["included_hours_overage"]["minutes_billed"] == 120
            assert "10.00 h allowance" in by_rule["included_hours_overage"]["reason"]

            # -- April: 8 h worked, nothing over, 2 h carried ----------------------------
            invoice = await run("2026-04", "2026-05-01T12:00:00Z")
            assert invoice["total"] == "1000.00"
            hours = (await api.get("/v1/reports/hours", params={"period": "2026-04"})).json()
            [blk] = hours["customers"]
            assert blk["included_hours"]["rollover_out_hours"] == "2.00"

            # -- May: 13 h against 10 h + 2 h carried: 1 h over = 150.00 -----------------
            invoice = await run("2026-05", "2026-06-01T12:00:00Z")
            assert invoice["total"] == "1150.00"
            hours = (await api.get("/v1/reports/hours", params={"period": "2026-05"})).json()
            [blk] = hours["customers"]
            assert blk["included_hours"] == {
                "allowance_hours": "10.00",
                "rollover_in_hours": "2.00",
                "used_hours": "13.00",
                "overage_hours": "1.00",
                "rollover_out_hours": "0.00",
            }
            assert blk["overage_hours"] == "1.00"

            # -- the change of bucket is audited on the topic ----------------------------
            await wait_for_async(
                lambda: db.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"),
                timeout=60,
                message="relayed",
            )
            out = await events_on(kafka_bootstrap, BILLING_LINE_ITEMS.named(namespace))
            audits = [e for e in out if e["type"] == "msp.billing.line_item_reclassified.v1"]
            assert (
                sorted(
                    (e["data"]["from_classification"], e["data"]["to_classification"])
                    for e in audits
                )
                == [("covered", "overage")] * 2
            )
    finally:
        await db.close()
