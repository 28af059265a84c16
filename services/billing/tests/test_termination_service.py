"""A termination through the real broker and Postgres: the final invoice's flat fee is
prorated to the termination instant in the customer's zone, and the next month bills
no fee."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from billing_factory import local, managed_ny
from billing_harness import connect, running, settings_for, setup_topics

from msp_devstack.testkit import produce, wait_for_async
from msp_events import make_event
from msp_events.topics import CONTRACTS
from msp_events.types.contracts import ContractTerminated
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

BOGOTA = "America/Bogota"  # UTC-5 all year


async def test_final_invoice_prorated_to_a_22_00_termination_in_a_utc_minus_5_zone(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    version = managed_ny(
        timezone=BOGOTA, flat_fee={"model": "fixed", "amount": Decimal("3000.00")}, version=1
    )
    ended = local(BOGOTA, 2026, 11, 20, 22)  # 03:00 UTC on the 21st
    data = ContractTerminated(
        contract_id="ctr-end", versions=[version], effective_at=ended, reason="customer left"
    )
    event = make_event(data, customer_id="end", source="/test", time=ended, id="ctr-end-t")
    await produce(kafka_bootstrap, CONTRACTS.named(namespace), [event])
    db = await connect(database_url, schema)
    try:
        async with running(settings_for(kafka_bootstrap, database_url, namespace, schema)) as api:
            await wait_for_async(
                lambda: db.fetchval("SELECT count(*) = 1 FROM contracts"),
                timeout=90,
                message="termination stored",
            )

            async def run(period: str, as_of: str) -> dict[str, Any]:
                body = {"period": period, "as_of": as_of}
                [outcome] = (await api.post("/v1/invoice-runs", json=body)).json()["outcomes"]
                return dict(outcome)

            outcome = await run("2026-11", "2026-12-01T12:00:00Z")
            assert outcome["outcome"] == "issued", outcome
            invoice = (await api.get(f"/v1/invoices/{outcome['invoice_id']}")).json()
            # by hand: 19 whole days + 22 h (1320 min) of the 20th, of 30 x 1440 minutes:
            # 3000.00 x 28680 / 43200 = 1991.666.. -> 1991.67
            [fee] = invoice["lines"]
            assert fee["line_amount"] == "1991.67"
            assert "19/30 days + 1320/1440 min to termination" in fee["description"]
            assert invoice["total"] == "1991.67"
            december = await run("2026-12", "2027-01-01T12:00:00Z")
            assert december["outcome"] == "nothing_to_invoice", december
    finally:
        await db.close()
