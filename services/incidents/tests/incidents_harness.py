"""The incidents tests' harness (imported by conftest and the test modules under this
unique name): the whole service (triage and projection consumers, outbox relay, HTTP
API) started in-process on the real broker and Postgres (`running`), and `Service`,
what a test drives it with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from incidents.app import build
from incidents.runtime import IncidentsRuntime
from incidents.settings import IncidentsSettings
from msp_devstack.access import operator_headers
from msp_devstack.testing import create_topics, new_namespace
from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import Envelope, decode
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, MONITORING, TICKETS
from msp_plumbing.migrations import migrate

TOPICS = [MONITORING, CONTRACTS, TICKETS, INCIDENTS, DEAD_LETTER]


def service_settings(kafka: str, db: str, ns: str, **extra: Any) -> IncidentsSettings:
    return IncidentsSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka,  # type: ignore[call-arg]
        DATABASE_URL=db,
        topic_namespace=ns,
        db_schema=ns.strip("_"),
        wall_clock_tick_s=0,  # tests drive time with event time
        **extra,
    )


async def prepare(kafka: str, db: str, ns: str) -> None:
    await create_topics(kafka, TOPICS, ns)
    await migrate(db, schema=ns.strip("_"), package="incidents")


@dataclass
class Service:
    kafka: str
    ns: str
    db: asyncpg.Connection
    http: httpx.AsyncClient
    runtime: IncidentsRuntime

    async def send(self, events: Iterable[Envelope], topic: str | None = None) -> None:
        await produce(self.kafka, topic or MONITORING.named(self.ns), list(events))

    async def contract(self, event: Envelope, within: float = 60) -> None:
        """Publish a contract event and wait until triage applied it: the contract and
        the monitoring topic are consumed independently, so an alert sent right after
        could otherwise reach triage first and wait for its contract (a different,
        also correct, path than the one a test means to drive)."""
        await produce(self.kafka, CONTRACTS.named(self.ns), [event])

        async def applied() -> bool:
            held = await self.db.fetchval(
                "SELECT contract->>'id' FROM triage_customers WHERE customer_id = $1",
                event.customer_id,
            )
            return bool(held == event.id)

        await wait_for_async(
            applied, timeout=within, message=f"contract {event.id} applied by triage"
        )

    async def read(self, topic: str, customer: str | None = None) -> list[Envelope]:
        records = await read_topic(self.kafka, f"{self.ns}{topic}")
        events = [decode(r.value) for r in records]
        return [e for e in events if customer is None or e.customer_id == customer]

    async def read_when(
        self, topic: str, customer: str, predicate: Any, within: float = 60
    ) -> list[Envelope]:
        """The topic's events for the customer once `predicate` holds (the outbox relay
        publishes asynchronously)."""

        async def check() -> list[Envelope] | None:
            events = await self.read(topic, customer)
            return events if predicate(events) else None

        found: list[Envelope] = await wait_for_async(
            check, timeout=within, message=f"{topic} events of {customer}"
        )
        return found

    async def log(self, customer: str, outcome: str | None = None) -> list[asyncpg.Record]:
        return list(
            await self.db.fetch(
                "SELECT * FROM triage_log WHERE customer_id = $1 AND ($2::text IS NULL OR "
                "outcome = $2) ORDER BY at, event_id",
                customer,
                outcome,
            )
        )

    async def wait_log(
        self, customer: str, outcome: str, n: int = 1, within: float = 60
    ) -> list[asyncpg.Record]:
        async def enough() -> list[asyncpg.Record] | None:
            rows = await self.log(customer, outcome)
            return rows if len(rows) >= n else None

        found: list[asyncpg.Record] = await wait_for_async(
            enough, timeout=within, message=f"{n} triage_log rows {outcome} for {customer}"
        )
        return found

    async def incidents(self, customer: str) -> list[dict[str, Any]]:
        r = await self.http.get("/v1/incidents", params={"customer_id": customer})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def wait_incidents(
        self, customer: str, predicate: Any, within: float = 60
    ) -> list[dict[str, Any]]:
        async def check() -> list[dict[str, Any]] | None:
            items = await self.incidents(customer)
            return items if predicate(items) else None

        found: list[dict[str, Any]] = await wait_for_async(
            check, timeout=within, message=f"incidents of {customer}"
        )
        return found


@contextlib.asynccontextmanager
async def running(kafka_bootstrap: str, database_url: str, **extra: Any) -> AsyncIterator[Service]:
    """The service in this process on a namespace of its own (`extra`: settings)."""
    ns = new_namespace()
    await prepare(kafka_bootstrap, database_url, ns)
    settings = service_settings(kafka_bootstrap, database_url, ns, **extra)
    app, runtime = build(settings)
    await runtime.start()
    db = await asyncpg.connect(database_url, server_settings={"search_path": settings.schema_name})
    transport = httpx.ASGITransport(app=app)
    headers = await operator_headers(database_url, namespace=ns)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://incidents", headers=headers
        ) as http:
            yield Service(kafka_bootstrap, ns, db, http, runtime)
    finally:
        await db.close()
        await runtime.stop()
