"""Scenario tests through the real broker and Postgres: monitoring events in on the
canonical topic, incidents and proactive tickets out, the query API on top."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import Service
from factory import contract, firing, t

pytestmark = pytest.mark.integration


async def test_storm_from_one_site_gives_one_incident_and_one_ticket(service: Service) -> None:
    cust = "storm-co"
    await service.contract(contract(cust))
    storm = [firing(cust, f"offline-{i}", t(i * 0.2), device=f"ws-{i:03d}") for i in range(500)]
    await service.send(storm)
    await service.wait_log(cust, "correlated", n=499, timeout=90)
    items = await service.wait_incidents(cust, lambda xs: len(xs) == 1 and xs[0]["alert_count"] == 500)
    incident = items[0]
    assert incident["scope"] == "site" and incident["status"] == "open"
    assert "unreachable" in incident["title"]
    assert incident["priority"] == "P2", incident["priority_reason"]
    tickets = await service.read("msp.tickets.v1", cust)
    kinds = Counter(e.type for e in tickets)
    assert kinds["msp.ticket.created.v1"] == 1, kinds
    created = next(e for e in tickets if e.type == "msp.ticket.created.v1")
    assert created.data.proactive and created.data.source == "proactive"
    assert created.data.incident_id == incident["incident_id"]
    assert len({e.id for e in tickets}) == len(tickets)
