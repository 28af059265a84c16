"""Monitoring coverage hours (coverage.py) through the real broker and Postgres: on
`business_hours` coverage an alert outside the contract's business hours is recorded
"outside_coverage" and opens nothing until coverage starts, then is triaged if still
firing. The pure rules and their properties are in test_coverage_hours.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from incidents_factory import contract, firing, heartbeat
from incidents_harness import Service
from prometheus_client import REGISTRY

from incidents.scheduler import TriageScheduler

# Europe/London, Mon-Fri 08:00-18:00 (GMT in early March: local = UTC)
TUE_2200 = datetime(2026, 3, 3, 22, 0, tzinfo=UTC)
WED_0800 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


@pytest.mark.integration
async def test_alert_at_22_00_local_no_ticket_until_08_00_then_one(service: Service) -> None:
    cust = "cov-live"
    await service.contract(contract(cust, coverage="business_hours"))
    await service.send([firing(cust, "down", TUE_2200, kind="server_down", device="srv-1")])
    [held] = await service.wait_log(cust, "outside_coverage")
    assert "until 2026-03-04T08:00:00+00:00" in held["reason"]
    # Alertmanager's repeats keep it firing through the night (alert timeout 4 h)
    repeats = [TUE_2200 + timedelta(hours=h) for h in (3, 6, 9)]
    await service.send(
        [firing(cust, "down", at, kind="server_down", device="srv-1") for at in repeats]
    )
    await service.wait_log(cust, "repeat", n=3)
    assert await service.incidents(cust) == []
    assert await service.read("msp.tickets.v1", cust) == []
    await service.send([heartbeat(cust, "fw-1", WED_0800 + timedelta(minutes=1))])
    [item] = await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    assert item["opened_at"].startswith("2026-03-04T08:00:00")
    tickets = await service.read_when("msp.tickets.v1", cust, bool)
    assert [e.type for e in tickets] == ["msp.ticket.created.v1"]


NY = ZoneInfo("America/New_York")  # UTC-5 on these dates


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=NY).astimezone(UTC)


def scheduler(service: Service) -> TriageScheduler:
    s = service.runtime.incidents_settings
    assert service.runtime.pool is not None
    return TriageScheduler(
        pool=service.runtime.pool,
        cfg=s.triage_config(),
        schema=s.schema_name,
        namespace=s.topic_namespace,
        group=s.group_id("triage"),
        interval_s=1,
    )


def counted() -> float:
    value = REGISTRY.get_sample_value("msp_incidents_alerts_total", {"outcome": "outside_coverage"})
    return value or 0.0


@pytest.mark.integration
async def test_utc_minus_5_alert_at_22_local_opens_at_08_local_in_the_scheduler_round(
    service: Service,
) -> None:
    cust = "after-hours-co"
    before = counted()
    await service.contract(contract(cust, coverage="business_hours", timezone="America/New_York"))
    # Tuesday 22:00 EST; held once the contract applied (it may come after the alert)
    fired = [ny(3, 22), ny(4, 1), ny(4, 4), ny(4, 7), ny(4, 7, 59)]
    await service.send([firing(cust, "srv-down", fired[0], device="srv-1")])
    # generous: the first test on a fresh broker waits for the group coordinator
    await service.wait_log(cust, "outside_coverage", within=180)
    # repeated overnight as Alertmanager does (the last at 07:59)
    await service.send([firing(cust, "srv-down", at, device="srv-1") for at in fired[1:]])
    await service.wait_log(cust, "repeat", n=len(fired) - 1)
    r = await service.http.get(
        "/v1/triage-log", params={"customer_id": cust, "outcome": "outside_coverage"}
    )
    assert r.status_code == 200, r.text
    held = r.json()
    assert len(held) == 1, held
    assert "until 2026-03-04T13:00:00+00:00 (Wed 08:00 America/New_York)" in held[0]["reason"]
    assert counted() - before == 1
    assert await service.incidents(cust) == []
    rounds = scheduler(service)
    # (the rounds also advance this module's other customers: count only this one's)
    await rounds.run_once(ny(4, 7, 59) + timedelta(seconds=59))  # not due yet
    assert await service.log(cust, "opened") == []
    assert await rounds.run_once(ny(4, 8)) >= 1  # coverage starts: re-evaluated, opened
    items = await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    assert items[0]["opened_at"].startswith("2026-03-04T13:00:00"), items[0]
    assert items[0]["device_ids"] == ["srv-1"]
    # a later round and a later repeat open nothing more
    await rounds.run_once(ny(4, 9))
    await service.send([firing(cust, "srv-down", ny(4, 9, 30), device="srv-1")])
    await service.wait_log(cust, "repeat", n=len(fired))
    tickets = await service.read_when("msp.tickets.v1", cust, bool)
    assert [e.type for e in tickets] == ["msp.ticket.created.v1"]
    assert tickets[0].data.source == "proactive"
