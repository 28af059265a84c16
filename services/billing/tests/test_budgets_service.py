"""Change-order budgets through the real broker and Postgres: work beyond the budget is
held (not billed, on the scope-creep report) until the customer approves the overrun;
then it is released and billed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from billing_factory import NY, entry, entry_event, local, managed_ny, snapshot_event
from billing_harness import connect, running, settings_for, setup_topics
from test_service import change_order

from msp_devstack.testkit import produce, wait_for_async
from msp_events import make_event
from msp_events.topics import CHANGE_ORDERS, CONTRACTS, TICKETS
from msp_events.types.change_orders import ChangeOrderOverrunApproved
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration


async def test_work_beyond_a_180_minute_budget_is_held_until_the_overrun_is_approved(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    work = [
        entry(local(NY, 2026, 3, 10, 9), 120, "installation", ticket_id="P-1"),
        entry(local(NY, 2026, 3, 11, 9), 120, "installation", ticket_id="P-1"),
    ]
    await produce(
        kafka_bootstrap, CONTRACTS.named(namespace), [snapshot_event("prj", managed_ny())]
    )
    order = change_order(
        "prj", "CO-7", local(NY, 2026, 3, 1, 9), ticket_ids=["P-1"], budget_minutes=180
    )
    await produce(kafka_bootstrap, CHANGE_ORDERS.named(namespace), [order])
    await produce(kafka_bootstrap, TICKETS.named(namespace), [entry_event("prj", e) for e in work])
    db = await connect(database_url, schema)
    try:
        async with running(settings_for(kafka_bootstrap, database_url, namespace, schema)) as api:

            async def lines() -> list[tuple[str, str, str, int, Decimal]]:
                rows = await db.fetch(
                    """SELECT entry_id, classification, rule, minutes_worked, amount
                       FROM line_items ORDER BY entry_id, segment"""
                )
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                return [] if unsent else [tuple(r) for r in rows]  # type: ignore[misc]

            first, second = (e.entry_id for e in work)
            held = await wait_for_async(
                lambda: _when(lines(), lambda found: len(found) == 3),
                timeout=90,
                message="both entries recorded",
            )
            # 180 of 240 minutes within the budget: 120 + 60 billed, 60 held
            assert held == [
                (first, "project", "approved_change_order", 120, Decimal("200.00")),
                (second, "project", "approved_change_order", 60, Decimal("100.00")),
                (second, "scope_creep", "change_order_budget_exceeded", 60, Decimal("0")),
            ]
            report = (await api.get("/v1/reports/scope-creep", params={"period": "2026-03"})).json()
            [prj] = report["customers"]
            assert prj["minutes"] == 60
            [ticket] = prj["tickets"]
            assert ticket["rules"] == ["change_order_budget_exceeded"]
            assert ticket["change_orders"] == ["CO-7"]

            # -- the customer approves the overrun: released and billed ---------------
            approval = ChangeOrderOverrunApproved(
                change_order_id="CO-7",
                reason="the cabling took an extra hour",
                approved_by="cfo@customer.example",
                approved_at=local(NY, 2026, 3, 12, 9),
            )
            await produce(
                kafka_bootstrap,
                CHANGE_ORDERS.named(namespace),
                [
                    make_event(
                        approval,
                        customer_id="prj",
                        source="/test/crm",
                        time=approval.approved_at,
                        id="co-prj-ovr",
                    )
                ],
            )
            released = await wait_for_async(
                lambda: _when(lines(), lambda found: found and found[2][1] == "project"),
                timeout=90,
                message="overrun released",
            )
            assert released[2] == (
                second,
                "project",
                "change_order_overrun_approved",
                60,
                Decimal("100.00"),
            )
            report = (await api.get("/v1/reports/scope-creep", params={"period": "2026-03"})).json()
            assert report["customers"] == []
            run = {"period": "2026-03", "as_of": "2026-04-01T12:00:00Z"}
            [outcome] = (await api.post("/v1/invoice-runs", json=run)).json()["outcomes"]
            assert outcome["total"] == "1400.00"  # fee 1000 + 4 h at USD 100.00, by hand
    finally:
        await db.close()


async def _when(found_later: object, ok: object) -> object:
    found = await found_later  # type: ignore[misc]
    return found if ok(found) else None  # type: ignore[operator]
