"""Margin per customer and utilisation per technician through the real broker and
Postgres, with figures computed by hand (cost rates: tech-ana 60.00/h, everyone else
40.00/h, USD):

* acme (managed, fixed fee 1000.00): tech-ana 120 min + tech-ben 60 min of covered
  help-desk work. Revenue 1000.00; cost 120.00 + 40.00 = 160.00; margin 840.00 (0.8400).
* bob (on-demand, 100.00/h): tech-ana 90 min in business hours = 150.00 invoiced, then
  fully credited. Revenue 0.00; cost 90.00; margin -90.00, no ratio.
* utilisation (before the credit note, which puts bob's work back to review): tech-ana
  3.50 h worked, 1.50 h billable (0.4286), 2.00 h covered; tech-ben 1.00 h covered,
  nothing billable.
"""

from __future__ import annotations

import pytest
from billing_factory import NY, entry, entry_event, local, managed_ny, on_demand_ny, snapshot_event
from billing_harness import connect, running, settings_for, setup_topics
from prometheus_client import REGISTRY

from msp_devstack.access import bearer, new_key
from msp_devstack.testkit import produce, wait_for_async
from msp_events.topics import CONTRACTS, TICKETS
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

RATES = {"*": {"USD": "40.00"}, "tech-ana": {"USD": "60.00"}}


async def test_margin_and_utilisation_by_hand(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    await produce(
        kafka_bootstrap,
        CONTRACTS.named(namespace),
        [snapshot_event("acme", managed_ny()), snapshot_event("bob", on_demand_ny())],
    )
    work = [
        ("acme", entry(local(NY, 2026, 3, 10, 10), 120, technician_id="tech-ana", ticket_id="A-1")),
        ("acme", entry(local(NY, 2026, 3, 11, 10), 60, technician_id="tech-ben", ticket_id="A-2")),
        ("bob", entry(local(NY, 2026, 3, 10, 14), 90, technician_id="tech-ana", ticket_id="B-1")),
    ]
    await produce(kafka_bootstrap, TICKETS.named(namespace), [entry_event(c, e) for c, e in work])
    settings = settings_for(
        kafka_bootstrap, database_url, namespace, schema, technician_cost_rates=RATES
    )
    db = await connect(database_url, schema)
    try:
        async with running(settings) as api:

            async def recorded() -> bool:
                return bool(
                    await db.fetchval("SELECT count(DISTINCT entry_id) = 3 FROM line_items")
                )

            await wait_for_async(recorded, timeout=60, message="three entries recorded")
            run = {"period": "2026-03", "as_of": "2026-04-02T00:00:00Z"}
            outcomes = (await api.post("/v1/invoice-runs", json=run)).json()["outcomes"]
            invoices = {o["customer_id"]: o["invoice_id"] for o in outcomes}
            util = (await api.get("/v1/reports/utilisation", params={"period": "2026-03"})).json()
            ana, ben = util["technicians"]
            assert (ana["technician_id"], ana["hours_worked"], ana["billable_hours"]) == (
                "tech-ana", "3.50", "1.50"
            )  # fmt: skip
            assert (ana["covered_hours"], ana["billable_ratio"]) == ("2.00", "0.4286")
            assert (ben["technician_id"], ben["covered_hours"], ben["billable_ratio"]) == (
                "tech-ben", "1.00", "0.0000"
            )  # fmt: skip

            bob = (await api.get(f"/v1/invoices/{invoices['bob']}")).json()
            assert bob["subtotal"] == "150.00"
            credited = await api.post(
                f"/v1/invoices/{invoices['bob']}/credit-notes",
                json={"line_ids": [bob["lines"][0]["line_id"]], "reason": "goodwill"},
            )
            assert credited.status_code == 201, credited.text

            found = (await api.get("/v1/reports/margin", params={"period": "2026-03"})).json()
            by = {c["customer_id"]: c for c in found["customers"]}
            assert {k: by["acme"][k] for k in ("revenue", "cost", "margin", "margin_ratio")} == {
                "revenue": "1000.00", "cost": "160.00", "margin": "840.00", "margin_ratio": "0.8400"
            }  # fmt: skip
            assert by["acme"]["hours_by_classification"] == {"covered": "3.00"}
            assert by["acme"]["invoice_id"] == invoices["acme"]
            # the credited line went back to review: still March work, still a cost
            assert by["bob"]["hours_by_classification"] == {"held_review": "1.50"}
            assert {k: by["bob"][k] for k in ("revenue", "cost", "margin", "margin_ratio")} == {
                "revenue": "0.00", "cost": "90.00", "margin": "-90.00", "margin_ratio": None
            }  # fmt: skip

            csv = await api.get("/v1/reports/margin", params={"period": "2026-03", "format": "csv"})
            assert csv.headers["content-type"].startswith("text/csv")
            assert csv.text.splitlines()[1].startswith("acme,2026-03,USD,")
            assert ",1000.00,160.00,840.00,0.8400," in csv.text

            # the invoice run put each issued customer's margin ratio on /metrics
            ratio = REGISTRY.get_sample_value(
                "msp_billing_customer_margin_ratio", {"customer_id": "acme", "currency": "USD"}
            )
            assert ratio == pytest.approx(0.84)
            bob_ratio = REGISTRY.get_sample_value(
                "msp_billing_customer_margin_ratio", {"customer_id": "bob", "currency": "USD"}
            )
            assert bob_ratio == pytest.approx(0.4)  # (150.00 - 90.00) / 150.00, before the credit

            # the billing role only: a customer's own credential may not see its margin
            customer = bearer(
                await new_key(database_url, namespace=namespace, roles=["customer"],
                              customers=["acme"])
            )  # fmt: skip
            refused = await api.get(
                "/v1/reports/margin", params={"period": "2026-03"}, headers=customer
            )
            assert refused.status_code == 403
            bad = await api.get("/v1/reports/margin", params={"period": "2026-3"})
            assert bad.status_code == 422 and "period" in bad.text
    finally:
        await db.close()
