"""One trace across services, on the real broker and Postgres: a ticket posted to
ingest with a W3C `traceparent` reaches the canonical topic in that trace, sla-clock
(its real runtime, in-process) starts the ticket's SLA clocks in the same trace, and
the JSON log lines of both services name the trace id, so `grep <trace id>` follows
the ticket from the front door to its SLA events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ingest.runtime import IngestRuntime, serving_app
from ingest.settings import IngestSettings
from msp_devstack.access import new_key
from msp_devstack.testing import create_topics
from msp_devstack.testkit import read_topic, wait_for_async
from msp_events import Envelope, decode
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj
from msp_events.topics import SLA, TICKETS
from msp_events.tracing import trace_of
from msp_plumbing.jsonlog import JsonFormatter
from msp_plumbing.migrations import migrate
from sla_clock.runtime import SlaRuntime
from sla_clock.settings import SlaSettings

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
PEPPER = "trace-test-pepper"


@pytest.fixture
async def services(
    kafka_bootstrap: str, database_url: str, namespace: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """ingest (over its ASGI app) and sla-clock, each on its own schema; yields an HTTP
    client for ingest and an API key for the sample customer."""
    base = namespace.strip("_").lower()
    common: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "topic_namespace": namespace,
    }
    await create_topics(kafka_bootstrap, None, namespace)
    await migrate(database_url, schema=f"{base}_in", package="ingest")
    await migrate(database_url, schema=f"{base}_sla", package="sla_clock")
    ingest = IngestRuntime(
        IngestSettings(**common, db_schema=f"{base}_in", api_key_pepper=PEPPER, db_pool_max=4)
    )
    sla = SlaRuntime(
        SlaSettings(
            **common,
            db_schema=f"{base}_sla",
            scheduler_clock="event_time",
            consumers_per_process=1,
            db_pool_max=4,
        )
    )
    customer = sample_events()[0].customer_id
    key = await new_key(
        database_url,
        namespace=namespace,
        roles=["publisher"],
        customers=[customer],
        source="psa",
        pepper=PEPPER,
    )
    await ingest.start()
    await sla.start()
    transport = httpx.ASGITransport(app=serving_app(ingest))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client, key
    finally:
        await sla.stop()
        await ingest.stop()


async def test_a_ticket_is_followed_by_its_trace_id_from_ingest_to_its_sla_clocks(
    services: tuple[httpx.AsyncClient, str],
    kafka_bootstrap: str,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, key = services
    samples = {e.type: e for e in sample_events()}
    contract = samples["msp.contract.snapshot.v1"]
    ticket = samples["msp.ticket.created.v1"]
    auth = {"authorization": f"Bearer {key}"}
    with caplog.at_level(logging.INFO, logger="msp.events"):
        r = await client.post("/v1/events", json=to_json_obj(contract), headers=auth)
        assert r.status_code == 202, r.text
        r = await client.post(
            "/v1/events", json=to_json_obj(ticket), headers={**auth, "traceparent": TRACEPARENT}
        )
        assert r.status_code == 202, r.text

        async def canonical_ticket() -> Envelope | None:
            records = await read_topic(kafka_bootstrap, TICKETS.named(namespace))
            return next((e for e in map(_decode, records) if e.id == ticket.id), None)

        published = await wait_for_async(canonical_ticket, timeout=60, message="ticket")
        assert trace_of(published).trace_id == TRACE_ID  # type: ignore[union-attr]

        async def sla_events() -> list[Envelope] | None:
            records = await read_topic(kafka_bootstrap, SLA.named(namespace))
            mine = [e for e in map(_decode, records) if e.subject == ticket.subject]
            return mine or None

        derived = await wait_for_async(sla_events, timeout=90, message="the ticket's clocks")
        await wait_for_async(
            lambda: _line(caplog, "applied", ticket.id), timeout=30, message="sla-clock's line"
        )

    assert {e.type for e in derived} >= {"msp.sla.clock_started.v1"}
    for event in derived:
        ctx = trace_of(event)
        assert ctx is not None and ctx.trace_id == TRACE_ID, event.type
        assert ctx.span_id != trace_of(published).span_id  # type: ignore[union-attr]

    formatter = JsonFormatter("test")
    accepted = json.loads(formatter.format(_line(caplog, "accepted", ticket.id)))  # type: ignore[arg-type]
    applied = json.loads(formatter.format(_line(caplog, "applied", ticket.id)))  # type: ignore[arg-type]
    assert (accepted["trace_id"], accepted["group"]) == (TRACE_ID, "ingest.events")
    assert applied["trace_id"] == TRACE_ID
    assert applied["group"] == f"{namespace}sla-clock.clocks"
    assert (applied["event_type"], applied["customer_id"]) == (ticket.type, ticket.customer_id)


def _decode(record: Any) -> Envelope:
    return decode(record.value)


def _line(
    caplog: pytest.LogCaptureFixture, outcome: str, event_id: str
) -> logging.LogRecord | None:
    """The `msp.events` record with `outcome` that names `event_id` (a per-event line's
    `event_id`, or one of a request line's `event_ids`)."""
    for record in caplog.records:
        if record.name != "msp.events" or getattr(record, "outcome", None) != outcome:
            continue
        ids = getattr(record, "event_ids", None) or [getattr(record, "event_id", None)]
        if event_id in ids:
            return record
    return None
