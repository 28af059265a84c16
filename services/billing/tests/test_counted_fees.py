"""Counted fees and the reconciliation report through the real broker and Postgres
(issue 17): inventory snapshots and alerts on the monitoring topic, a per-device
contract of 50 at 12.00, 52 devices seen on 16 March."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import asyncpg
import httpx
import pytest
from billing_factory import (
    NY,
    alert_event,
    entry,
    entry_event,
    inventory_event,
    local,
    managed_ny,
    snapshot_event,
)
from billing_harness import connect, running, settings_for, setup_topics

from msp_devstack.access import bearer, new_key
from msp_devstack.testkit import produce, wait_for_async
from msp_events.topics import CONTRACTS, MONITORING, TICKETS
from msp_events.types.inventory import Asset, InventorySnapshot
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

ACME = "acme"
PER_DEVICE = managed_ny(
    flat_fee={"model": "per_device", "unit_price": Decimal("12.00"), "devices": 50}
)


def march_inventory() -> list[object]:
    """2 March: dev-00..dev-49 and 5 users. 16 March: dev-01..dev-51 (dev-00 retired,
    dev-50 and dev-51 added) and 4 users, plus an alert from dev-stray, which no
    snapshot lists: 52 distinct devices that day."""
    second = inventory_event(ACME, local(NY, 2026, 3, 2, 6), devices=50, users=5)
    sixteenth = inventory_event(ACME, local(NY, 2026, 3, 16, 6), devices=52, users=4)
    assert isinstance(sixteenth.data, InventorySnapshot)
    assets: list[Asset] = [a for a in sixteenth.data.assets if a.asset_id != "acme-dev-00"]
    retired = sixteenth.model_copy(
        update={"data": sixteenth.data.model_copy(update={"assets": assets})}
    )
    stray = alert_event(ACME, "acme-dev-stray", local(NY, 2026, 3, 16, 22, 15))
    return [second, retired, stray]


async def settled(db: asyncpg.Connection, rows: int) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM assets_seen") == rows)


async def test_52_seen_against_50_contracted_bills_52_and_reconciles(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    await produce(
        kafka_bootstrap,
        CONTRACTS.named(namespace),
        [snapshot_event(ACME, PER_DEVICE), snapshot_event("bob", PER_DEVICE)],
    )
    events = march_inventory()
    await produce(kafka_bootstrap, MONITORING.named(namespace), events)  # type: ignore[arg-type]
    await produce(kafka_bootstrap, MONITORING.named(namespace), events)  # delivered twice
    work = entry(local(NY, 2026, 3, 10, 10), 60, "help_desk", ticket_id="T-1")
    await produce(kafka_bootstrap, TICKETS.named(namespace), [entry_event(ACME, work)])
    db = await connect(database_url, schema)
    settings = settings_for(kafka_bootstrap, database_url, namespace, schema)
    try:
        async with running(settings) as api:
            # 50 + 5 on the 2nd, 51 + 4 + 1 on the 16th: one row per asset and UTC day
            await wait_for_async(lambda: settled(db, 111), timeout=60, message="assets seen")
            await wait_for_async(
                lambda: db.fetchval("SELECT count(*) = 1 FROM line_items"),
                timeout=60,
                message="the covered hour recorded",
            )

            # -- the invoice: max(50 contracted, 52 seen) x 12.00 = 624.00 ----------
            run = {"period": "2026-03", "customer_id": ACME, "as_of": "2026-04-01T06:00:00Z"}
            [outcome] = (await api.post("/v1/invoice-runs", json=run)).json()["outcomes"]
            assert (outcome["outcome"], outcome["total"]) == ("issued", "624.00")
            invoice = (await api.get(f"/v1/invoices/{outcome['invoice_id']}")).json()
            [fee] = invoice["lines"]
            assert (fee["quantity"], fee["unit_amount"], fee["line_amount"]) == (
                "52",
                "12.00",
                "624.00",
            )
            assert "contracted 50 devices, peak seen 52 on 2026-03-16" in fee["description"]

            # the hours report's flat fee is the fee as invoiced
            hours = (await api.get("/v1/reports/hours?period=2026-03&customer_id=acme")).json()
            [acme] = hours["customers"]
            assert (acme["flat_fee"], acme["flat_fee_per_covered_hour"]) == ("624.00", "624.00")

            # -- the reconciliation report -----------------------------------------
            r = await api.get(f"/v1/customers/{ACME}/reconciliation/2026-03")
            assert r.status_code == 200, r.text
            devices, users = r.json()["kinds"]
            assert devices["kind"] == "device"
            assert (devices["contracted"], devices["peak_seen"], devices["peak_day"]) == (
                50,
                52,
                "2026-03-16",
            )
            assert devices["seen_in_month"] == 53
            assert devices["new"] == ["acme-dev-50", "acme-dev-51"]
            assert devices["missing"] == ["acme-dev-00"]
            assert devices["unlisted"] == ["acme-dev-stray"]  # monitoring only
            assert devices["portions"] == [
                {
                    "version": 1,
                    "first_day": "2026-03-01",
                    "last_day": "2026-03-31",
                    "days": 31,
                    "contracted": 50,
                    "peak_seen": 52,
                    "billed": 52,
                    "amount": "624.00",
                }
            ]
            stray = next(a for a in devices["assets"] if a["asset_id"] == "acme-dev-stray")
            assert (stray["sources"], stray["days_seen"]) == (["monitoring"], 1)
            assert (users["contracted"], users["peak_seen"], users["missing"]) == (
                None,
                5,
                ["acme-user-04"],
            )

            text = (await api.get(f"/v1/customers/{ACME}/reconciliation/2026-03?format=csv")).text
            rows = list(csv.DictReader(io.StringIO(text)))
            assert len(rows) == 53 + 5
            dev00 = next(row for row in rows if row["asset_id"] == "acme-dev-00")
            assert (dev00["missing"], dev00["last_seen"], dev00["contracted"]) == (
                "True",
                "2026-03-02",
                "50",
            )

            # every customer at once, as `make run`'s summary reads it
            every = (await api.get("/v1/reports/reconciliation?period=2026-03")).json()
            assert [c["customer_id"] for c in every["customers"]] == [ACME, "bob"]
            bob = every["customers"][1]["kinds"][0]
            assert (bob["contracted"], bob["peak_seen"], bob["portions"][0]["amount"]) == (
                50,
                0,
                "600.00",
            )
            await tenants_see_only_their_own(api, database_url, namespace)
    finally:
        await db.close()


async def tenants_see_only_their_own(
    api: httpx.AsyncClient, database_url: str, namespace: str
) -> None:
    async def headers(roles: list[str], customers: list[str]) -> dict[str, str]:
        key = await new_key(database_url, namespace=namespace, roles=roles, customers=customers)
        return bearer(key)

    mine = await headers(["customer"], [ACME])
    theirs = await headers(["customer"], ["bob"])
    dispatcher = await headers(["dispatcher"], [])
    path = f"/v1/customers/{ACME}/reconciliation/2026-03"
    assert (await api.get(path, headers=mine)).status_code == 200
    hidden = await api.get(path, headers=theirs)
    unknown = await api.get("/v1/customers/nobody/reconciliation/2026-03", headers=mine)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()  # another tenant's customer: as if unknown
    listed = (await api.get("/v1/reports/reconciliation?period=2026-03", headers=theirs)).json()
    assert [c["customer_id"] for c in listed["customers"]] == ["bob"]
    assert (await api.get(path, headers=dispatcher)).status_code == 403
    bad = await api.get(f"/v1/customers/{ACME}/reconciliation/2026-13")
    assert bad.status_code == 422 and "period" in bad.text
