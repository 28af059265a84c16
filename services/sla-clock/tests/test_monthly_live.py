"""The monthly SLA report event through the real broker and Postgres: due on the first
business day of the next month, fired by the scheduler with no new event, with the
figures of `GET /v1/customers/{id}/sla-report` for that customer and month, once per
month, also when the service is killed right after committing it."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from msp_devstack.processes import free_port
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import Envelope, decode, make_event
from msp_events.topics import CONTRACTS, INCIDENTS, SLA, TICKETS
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from msp_events.types.sla import SlaMonthlyReport
from msp_events.types.tickets import TicketResolved
from sla_clock.monthly import report_event_id
from sla_clock.timesource import WallClock

from .conftest import Service, london, prepare, schema_of, start_process, stop_process, ticket_event
from .test_escalation_live import tick
from .test_scenarios import CUSTOMER, contract_event, created, reply

pytestmark = pytest.mark.integration
MARCH_DUE = london(2026, 4, 1, 8)  # Wednesday 1 April, 08:00 BST
APRIL_DUE = london(2026, 5, 1, 8)  # Friday 1 May (the bank holiday is Monday the 4th)


def reports(events: list[Envelope]) -> list[Envelope]:
    return [e for e in events if isinstance(e.data, SlaMonthlyReport)]


def resolved(ticket: str, at: datetime) -> Envelope:
    return ticket_event(
        TicketResolved(ticket_id=ticket, resolution_code="fixed", resolved_at=at),
        id=f"{ticket}-resolved",
    )


def march() -> tuple[list[Envelope], list[Envelope]]:
    """Tickets (one met, one breached twice, one still open) and a one-hour outage."""
    tickets = [
        created("T-met", london(2026, 3, 10, 9), "P3"),
        reply("T-met", london(2026, 3, 10, 9, 20)),
        resolved("T-met", london(2026, 3, 10, 12)),
        created("T-late", london(2026, 3, 11, 9), "P2"),
        resolved("T-late", london(2026, 3, 12, 12)),
        created("T-open", london(2026, 3, 30, 9), "P4"),
    ]
    opened = london(2026, 3, 10, 10)
    outage = [
        make_event(
            IncidentOpened(
                incident_id="inc-1",
                title="server down",
                priority="P1",
                impact="high",
                urgency="high",
                scope="customer",
                alert_fingerprints=["fp-1"],
                check_kind="server_down",
                priority_reason="whole office down",
                tier="managed",
                opened_at=opened,
            ),
            customer_id=CUSTOMER,
            source="/incidents",
            time=opened,
            id="inc-1-opened",
        ),
        make_event(
            IncidentResolved(
                incident_id="inc-1",
                resolved_at=opened + timedelta(hours=1),
                duration_seconds=3600,
                reason="recovered",
            ),
            customer_id=CUSTOMER,
            source="/incidents",
            time=opened + timedelta(hours=1),
            id="inc-1-resolved",
        ),
    ]
    return tickets, outage


async def test_the_report_is_sent_once_when_due_with_the_api_figures(
    start_service: Callable[..., Any],
) -> None:
    now = [london(2026, 3, 31, 12)]
    service: Service = await start_service(clock=WallClock(lambda: now[0]))
    ns = service.namespace
    await service.send(CONTRACTS.named(ns), [contract_event()])
    row = await wait_for_async(
        lambda: service.db.fetchrow("SELECT month, due_at FROM report_schedule"),
        timeout=60,
        message="the customer's report schedule",
    )
    assert (row["month"], row["due_at"]) == ("2026-03", MARCH_DUE)
    tickets, outage = march()
    await service.send(TICKETS.named(ns), tickets)
    await service.send(INCIDENTS.named(ns), outage)

    async def stored() -> bool:
        clocks = await service.db.fetchval("SELECT count(*) FROM clocks")
        incidents = await service.db.fetchval(
            "SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL"
        )
        return bool(clocks == 6 and incidents == 1)

    await wait_for_async(stored, timeout=60, message="March's tickets and outage")
    scheduler = service.runtime.scheduler
    assert scheduler is not None

    now[0] = MARCH_DUE - timedelta(seconds=1)
    await scheduler.run_once()  # a second early: not yet
    assert await service.db.fetchval("SELECT month FROM report_schedule") == "2026-03"
    now[0] = MARCH_DUE

    async def sent() -> list[Envelope]:
        return reports(await service.sla_events())

    found = await wait_for_async(sent, timeout=60, message="March's report on the topic")
    event = found[0]
    data = event.data
    assert isinstance(data, SlaMonthlyReport)
    assert (event.id, event.subject, event.customer_id) == (
        report_event_id(CUSTOMER, "2026-03"),
        "sla-report/2026-03",
        CUSTOMER,
    )

    # the API's figures for that customer and month, at the same instant
    url = f"/v1/customers/{CUSTOMER}/sla-report"
    api = (await service.http.get(url, params={"month": "2026-03"})).json()
    api_csv = (await service.http.get(url, params={"month": "2026-03", "format": "csv"})).text
    sent_json = data.model_dump(mode="json")
    for field in (
        "month",
        "timezone",
        "as_of",
        "contract_versions",
        "summary",
        "mean_time_to_respond_seconds",
        "mean_time_to_resolve_seconds",
        "breaches",
        "availability",
    ):
        assert sent_json[field] == api[field], field
    assert data.csv == api_csv and data.csv_rows_omitted == 0
    assert data.clocks == len(api["clocks"]) == 6
    # T-late breached both clocks; T-open's 4 business hours to respond ran out on 31 March
    assert data.breaches_total == len(api["breaches"]) == 3
    assert data.availability.downtime_seconds == 3600
    assert (data.contract_id, data.contract_version) == ("ctr-1", 1)

    # April: due on 1 May; more rounds send nothing more
    now[0] = APRIL_DUE + timedelta(days=5)

    async def april() -> bool:
        return len(await sent()) == 2

    await wait_for_async(april, timeout=60, message="April's report")
    for _ in range(3):
        await scheduler.run_once()
    months = Counter(e.subject for e in reports(await service.sla_events()))
    assert months == {"sla-report/2026-03": 1, "sla-report/2026-04": 1}
    row = await service.db.fetchrow("SELECT month, due_at FROM report_schedule")
    assert (row["month"], row["due_at"]) == ("2026-05", london(2026, 6, 1, 8))


async def test_killed_after_committing_a_report_it_is_still_published_once(
    kafka_bootstrap: str, database_url: str, namespace: str, tmp_path: Path
) -> None:
    """Event time: a tick past 1 April makes the scheduler commit March's report, and
    the process is SIGKILLed before the relay; the next process publishes it once."""
    schema = schema_of(namespace)
    await prepare(kafka_bootstrap, database_url, namespace, schema)
    env = service_env(
        kafka=kafka_bootstrap,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        MSP_SCHEDULER_CLOCK="event_time",
    )
    log = tmp_path / "service.log"
    db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    contract = make_event(
        contract_event().data,
        customer_id=CUSTOMER,
        source="/crm",
        time=datetime(2026, 3, 2, tzinfo=UTC),  # learnt in March
        id="contract-march",
    )
    try:
        crashing = await start_process({**env, "MSP_CRASH_POINT": "reports.after_commit:1"}, log)
        try:
            await produce(kafka_bootstrap, CONTRACTS.named(namespace), [contract])
            await wait_for_async(
                lambda: db.fetchval("SELECT count(*) FROM report_schedule"), timeout=60
            )
            await produce(kafka_bootstrap, INCIDENTS.named(namespace), [tick(MARCH_DUE, 0)])
            rc = await asyncio.wait_for(crashing.wait(), 120)
        finally:
            if crashing.returncode is None:
                crashing.kill()
                await crashing.wait()
        assert rc == -signal.SIGKILL, f"no crash after the report:\n{log.read_text()}"
        unsent = await db.fetchval(
            """SELECT count(*) FROM outbox WHERE sent_at IS NULL
               AND convert_from(value, 'UTF8') LIKE '%msp.sla.monthly_report.v1%'"""
        )
        assert unsent == 1, "the report was committed, not relayed"
        healthy = await start_process({**env, "MSP_HTTP_PORT": str(free_port())}, log)
        try:
            await produce(kafka_bootstrap, INCIDENTS.named(namespace), [tick(APRIL_DUE, 1)])

            async def both_relayed() -> bool:
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                month = await db.fetchval("SELECT month FROM report_schedule")
                return unsent == 0 and month == "2026-05"

            await wait_for_async(both_relayed, timeout=120, message="March and April relayed")
        finally:
            await stop_process(healthy)
    finally:
        await db.close()

    events = [decode(r.value) for r in await read_topic(kafka_bootstrap, SLA.named(namespace))]
    assert Counter(e.subject for e in reports(events)) == {
        "sla-report/2026-03": 1,
        "sla-report/2026-04": 1,
    }
