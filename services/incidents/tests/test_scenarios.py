"""Scenario tests through the real broker and Postgres: monitoring events in on the
canonical topic, incidents and proactive tickets out, the query API on top."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from incidents_factory import contract, firing, heartbeat, maintenance, resolved, t
from incidents_harness import Service

from msp_devstack.testkit import produce, wait_for_async

pytestmark = pytest.mark.integration


async def test_storm_from_one_site_gives_one_incident_and_one_ticket(service: Service) -> None:
    cust = "storm-co"
    await service.contract(contract(cust))
    storm = [firing(cust, f"offline-{i}", t(i * 0.2), device=f"ws-{i:03d}") for i in range(500)]
    await service.send(storm)
    await service.wait_log(cust, "correlated", n=499, within=90)
    items = await service.wait_incidents(
        cust, lambda xs: len(xs) == 1 and xs[0]["alert_count"] == 500
    )
    incident = items[0]
    assert incident["scope"] == "site" and incident["status"] == "open"
    assert incident["title"] == "Site site-1 unreachable (500 devices offline)"
    assert incident["device_ids"] == [f"ws-{i:03d}" for i in range(500)]
    assert incident["impact"] == "high"
    assert incident["priority"] == "P2", incident["priority_reason"]
    tickets = await service.read_when(
        "msp.tickets.v1", cust, lambda es: any(e.type.endswith("priority_changed.v1") for e in es)
    )
    kinds = Counter(e.type for e in tickets)
    assert kinds["msp.ticket.created.v1"] == 1, kinds
    created = next(e for e in tickets if e.type == "msp.ticket.created.v1")
    assert created.data.proactive and created.data.source == "proactive"
    assert created.data.incident_id == incident["incident_id"]
    assert len({e.id for e in tickets}) == len(tickets)


async def test_widened_incident_shows_every_device_the_site_impact_and_a_current_title(
    service: Service,
) -> None:
    # no heartbeats: the site's devices are known only from alerts, so the incident
    # widens at 2 of 2 known devices; the query model must follow it as it grows
    cust = "widen-co"
    await service.contract(contract(cust))
    devices = [f"pc-{i}" for i in range(1, 6)]
    await service.send(
        [firing(cust, f"off-{d}", t(i), device=d, site="branch") for i, d in enumerate(devices)]
    )
    items = await service.wait_incidents(
        cust, lambda xs: len(xs) == 1 and xs[0]["alert_count"] == len(devices)
    )
    detail = (await service.http.get(f"/v1/incidents/{items[0]['incident_id']}")).json()
    for incident in (items[0], detail):
        assert incident["device_ids"] == devices, incident
        assert (incident["scope"], incident["impact"], incident["urgency"]) == (
            "site",
            "high",
            "medium",
        ), incident
        assert incident["priority"] == "P2", incident["priority_reason"]
        assert incident["title"] == "Site branch unreachable (5 devices offline)", incident
    updates = [e["detail"] for e in detail["timeline"] if e["kind"] == "updated"]
    assert [u["devices_attached"] for u in updates] == [[d] for d in devices[1:]], updates
    assert [u.get("impact") for u in updates] == ["high", None, None, None], updates


async def test_flapping_alert_keeps_one_incident_and_one_ticket(service: Service) -> None:
    cust = "flap-co"
    await service.contract(contract(cust))
    flips = []
    for i in range(8):  # fire, resolve, fire, ... every 30 s: 8 state changes in 4 minutes
        make = firing if i % 2 == 0 else resolved
        flips.append(make(cust, "nas-ping", t(i * 30), device="nas-1", kind="device_offline"))
    await service.send(flips)
    await service.wait_log(cust, "refired", n=3)
    # stable for the flap window (600 s) and the hold-down (120 s): the incident resolves
    await service.send([heartbeat(cust, "fw-1", t(210 + 600 + 120 + 60))])
    items = await service.wait_incidents(cust, lambda xs: xs and xs[0]["status"] == "resolved")
    assert len(items) == 1
    detail = (await service.http.get(f"/v1/incidents/{items[0]['incident_id']}")).json()
    flaps = [e["detail"].get("flapping") for e in detail["timeline"] if e["kind"] == "updated"]
    assert flaps == [True, False], detail["timeline"]
    events = await service.read_when("msp.tickets.v1", cust, lambda es: len(es) >= 2)
    tickets = Counter(e.type for e in events)
    assert tickets == {"msp.ticket.created.v1": 1, "msp.ticket.resolved.v1": 1}


async def test_maintenance_window_suppresses_then_reevaluates_at_its_end(service: Service) -> None:
    cust = "maint-co"
    await service.contract(contract(cust))
    await service.send(
        [
            maintenance(cust, "mw-1", t(0), t(600)),
            firing(cust, "srv-down", t(60), device="srv-1", kind="server_down"),
            firing(cust, "disk", t(120), device="srv-2", kind="disk_space"),
            resolved(cust, "disk", t(300), device="srv-2", kind="disk_space"),
        ]
    )
    suppressed = await service.wait_log(cust, "suppressed", n=2)
    assert all("mw-1" in r["reason"] for r in suppressed)
    assert await service.incidents(cust) == []
    # the next event after the window's end: the alert still firing is triaged at once
    await service.send([heartbeat(cust, "fw-1", t(700))])
    items = await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    assert items[0]["opened_at"].startswith("2026-03-03T10:10:00")  # the window's end
    assert items[0]["device_ids"] == ["srv-1"]
    tickets = await service.read_when("msp.tickets.v1", cust, bool)
    assert [e.type for e in tickets] == ["msp.ticket.created.v1"]


async def test_orphan_resolve_then_late_trigger_opens_nothing(service: Service) -> None:
    cust = "orphan-co"
    await service.contract(contract(cust))
    await service.send(
        [
            resolved(cust, "ups", t(10), device="ups-1", kind="device_offline"),
            firing(cust, "ups", t(20), device="ups-1", starts_at=t(5)),  # the late trigger
        ]
    )
    await service.wait_log(cust, "late_trigger")
    assert [r["outcome"] for r in await service.log(cust)] == ["tombstone", "late_trigger"]
    # a trigger that starts after the recorded resolve is a new problem
    await service.send([firing(cust, "ups", t(40), device="ups-1", starts_at=t(40))])
    await service.wait_incidents(cust, lambda xs: len(xs) == 1)


async def test_same_alert_delivered_twice_is_a_no_op(service: Service) -> None:
    cust = "dup-co"
    await service.contract(contract(cust))
    alert = firing(cust, "backup", t(0), device="srv-1", kind="backup_failure", id="dup-evt-1")
    repeat = firing(cust, "backup", t(300), device="srv-1", kind="backup_failure")
    await service.send([alert, alert, repeat])
    await service.wait_log(cust, "repeat")
    outcomes = [r["outcome"] for r in await service.log(cust)]
    assert outcomes == ["opened", "repeat"]  # the copy with the same id left no trace
    items = await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    assert len(items) == 1
    tickets = await service.read_when("msp.tickets.v1", cust, bool)
    assert [e.type for e in tickets] == ["msp.ticket.created.v1"]


async def test_on_demand_customer_alert_is_recorded_not_monitored(service: Service) -> None:
    cust = "ondemand-co"
    await service.contract(contract(cust, tier="on_demand", monitored=False))
    await service.send([firing(cust, "backup", t(0), device="pc-1", kind="backup_failure")])
    rows = await service.wait_log(cust, "not_monitored")
    assert rows[0]["reason"].startswith("not monitored")
    assert await service.incidents(cust) == []
    # outputs are written with the triage log, in one transaction: none were
    pending = await service.db.fetchval("SELECT count(*) FROM outbox WHERE key = $1", cust.encode())
    assert pending == 0
    assert await service.read("msp.tickets.v1", cust) == []


async def test_vip_p2_sorts_before_managed_p2(service: Service) -> None:
    day = 86_400  # a time range no other test uses
    await service.contract(contract("managed-co"))
    await service.contract(contract("vip-co", tier="managed_vip"))
    await service.send(
        [  # managed opened first; both P2: medium impact x high urgency (business-critical)
            firing(
                "managed-co", "bk", t(day), device="srv-m", kind="backup_failure", critical=True
            ),
            firing(
                "vip-co", "bk", t(day + 60), device="srv-v", kind="backup_failure", critical=True
            ),
        ]
    )
    params = {
        "priority": "P2",
        "opened_from": t(day).isoformat(),
        "opened_to": t(day + 3600).isoformat(),
    }

    async def both() -> list[dict[str, Any]] | None:
        r = await service.http.get("/v1/incidents", params=params)
        items: list[dict[str, Any]] = r.json()["items"]
        return items if len(items) == 2 else None

    items = await wait_for_async(both, timeout=60, message="both P2 incidents")
    assert [i["customer_id"] for i in items] == ["vip-co", "managed-co"]
    assert "tier managed_vip" in items[0]["priority_reason"]
    assert "ITIL matrix" in items[0]["priority_reason"]


async def test_incident_detail_says_why_and_names_the_runbook(service: Service) -> None:
    cust = "detail-co"
    await service.contract(contract(cust))
    await service.send([firing(cust, "bk", t(0), device="srv-1", kind="backup_failure")])
    items = await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    r = await service.http.get(f"/v1/incidents/{items[0]['incident_id']}")
    assert r.status_code == 200
    detail = r.json()
    assert detail["priority"] == "P3"
    assert detail["priority_reason"].startswith("impact medium (device scope, severity critical)")
    assert detail["runbook"] == "https://runbooks.msp.example/backup-failure"
    assert [a["fingerprint"] for a in detail["alerts"]] == ["bk"]
    assert detail["alerts"][0]["device_id"] == "srv-1"
    assert [e["kind"] for e in detail["timeline"]] == ["opened"]
    missing = await service.http.get("/v1/incidents/nope")
    assert missing.status_code == 404 and "incident_id" in missing.text


async def test_bad_query_parameters_name_the_field(service: Service) -> None:
    r = await service.http.get("/v1/incidents", params={"priority": "P9"})
    assert r.status_code == 422 and "priority" in r.text
    r = await service.http.get("/v1/incidents", params={"opened_from": "2026-03-03T10:00:00"})
    assert r.status_code == 422 and "opened_from" in r.text


async def test_invalid_monitoring_record_is_dead_lettered_and_processing_goes_on(
    service: Service,
) -> None:
    cust = "bad-input-co"
    await service.contract(contract(cust))
    bad = b'{"specversion": "1.0", "id": "x1", "type": "msp.monitoring.alert_firing.v1"}'
    await produce(service.kafka, f"{service.ns}msp.monitoring.v1", raw=[(cust.encode(), bad)])
    await service.send([firing(cust, "after-bad", t(0), device="srv-9")])
    await service.wait_incidents(cust, lambda xs: len(xs) == 1)

    async def lettered() -> list[Any] | None:
        letters = await service.read("msp.deadletter.v1", cust)
        return letters or None

    letters = await wait_for_async(lettered, timeout=60, message="dead letter")
    assert "/source" in letters[0].data.reason or "Field required" in letters[0].data.reason


async def test_health_readiness_and_metrics(service: Service) -> None:
    assert (await service.http.get("/healthz")).json() == {"status": "ok"}
    ready = await service.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"].values()) == {"ok"}
    text = (await service.http.get("/metrics")).text
    for name in (
        "msp_incidents_alerts_total",
        "msp_incidents_opened_total",
        "msp_incidents_proactive_tickets_total",
        "msp_incidents_flapping_total",
        "msp_incidents_alerts_per_incident",
    ):
        assert name in text
    assert 'msp_incidents_alerts_total{outcome="correlated"}' in text


async def test_alerts_that_arrive_before_the_contract_wait_for_it(service: Service) -> None:
    cust = "late-contract-co"
    await service.send([firing(cust, "bk", t(0), device="srv-1", kind="backup_failure")])
    await service.wait_log(cust, "pending")
    await service.contract(contract(cust))
    await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    assert [r["outcome"] for r in await service.log(cust)] == ["opened"]
