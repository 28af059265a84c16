"""Ingest tells the truth: an event too large for a Kafka record is 413 (naming it); a
claim whose publish is in doubt is answered "outcome unknown" and resolved from the
topic, so a retry never publishes an id twice and never loses it; with Postgres down
the answer is 503 with Retry-After (not 500), and the service recovers by itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from ingest_testkit import TOPICS, Ingest, make_settings

from ingest.claims import DoubtResolver
from ingest.runtime import IngestRuntime, serving_app
from msp_devstack.access import prepare_access
from msp_devstack.postgres import LocalPostgres
from msp_devstack.testing import create_topics
from msp_devstack.testkit import produce, wait_for_async
from msp_events import decode, make_event
from msp_events.serde import to_json_obj
from msp_events.topics import MONITORING, TICKETS
from msp_events.types.monitoring import Heartbeat
from msp_events.types.tickets import TicketCreated
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration
BATCH = {"content-type": "application/cloudevents-batch+json"}


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


def heartbeat(customer: str, event_id: str) -> Any:
    sent = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    data = Heartbeat(device_id="ws-1", agent="rmm/5.9", interval_seconds=300, sent_at=sent)
    return make_event(data, customer_id=customer, source="/rmm", time=sent, id=event_id)


def ticket(customer: str, event_id: str, description: str) -> dict[str, Any]:
    opened = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    data = TicketCreated(
        ticket_id="T-1",
        title="printer",
        description=description,
        priority="P3",
        category="help_desk",
        source="phone",
        opened_at=opened,
    )
    event = make_event(data, customer_id=customer, source="/psa", time=opened, id=event_id)
    return to_json_obj(event)


async def ids_on(ingest: Ingest, registry_name: str) -> Counter[str]:
    return Counter(decode(r.value).id for r in await ingest.read(registry_name))


async def test_an_event_too_large_for_a_record_is_413_naming_it(ingest: Ingest) -> None:
    assert ingest.runtime.intake is not None
    ingest.runtime.intake.max_event_bytes = 4096  # the topic's record limit, scaled down
    key = await ingest.key("cust-a")
    small, big = ticket("cust-a", "tk-small", "ok"), ticket("cust-a", "tk-big", "x" * 5000)
    r = await ingest.client.post("/v1/events", json=[small, big], headers=auth(key, **BATCH))
    assert r.status_code == 413, r.text
    errors = r.json()["errors"]
    assert [e["pointer"] for e in errors] == ["/1"] and "tk-big" in errors[0]["message"]
    r = await ingest.client.post("/v1/events", json=small, headers=auth(key))
    assert r.status_code == 202  # nothing of the refused batch was claimed
    assert await ids_on(ingest, TICKETS.name) == Counter({"tk-small": 1})


async def pending(ingest: Ingest, customer: str, event_id: str, *, age_s: float) -> None:
    await ingest.db.execute(
        """INSERT INTO accepted_events (customer_id, event_id, topic, state, accepted_at)
           VALUES ($1, $2, $3, 'pending', now() - make_interval(secs => $4))""",
        customer,
        event_id,
        ingest.topic(MONITORING.name),
        age_s,
    )


def a_resolver(ingest: Ingest) -> DoubtResolver:
    """A resolver beside the running one, with the default orphan grace (60 s)."""
    intake = ingest.runtime.intake
    assert intake is not None
    return DoubtResolver(
        pool=intake.claims.pool, claims=intake.claims, bootstrap_servers=ingest.bootstrap
    )


async def test_an_id_in_doubt_is_answered_outcome_unknown_not_republished(
    ingest: Ingest,
) -> None:
    key = await ingest.key("cust-a")
    await pending(ingest, "cust-a", "hb-doubt", age_s=0)  # another process's send, unsettled
    r = await ingest.client.post(
        "/v1/events", json=to_json_obj(heartbeat("cust-a", "hb-doubt")), headers=auth(key)
    )
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "outcome unknown" in r.json()["message"] and "same ids" in r.json()["message"]
    assert await ids_on(ingest, MONITORING.name) == Counter()


async def test_the_resolver_settles_doubts_from_the_topic_then_retries_are_exact(
    ingest: Ingest,
) -> None:
    """One in-doubt id reached Kafka (its ack was lost), one did not: the first is marked
    published (a retry is a duplicate), the second is freed (a retry publishes it)."""
    landed, lost = heartbeat("cust-a", "hb-landed"), heartbeat("cust-a", "hb-lost")
    await produce(ingest.bootstrap, ingest.topic(MONITORING.name), [landed])
    await pending(ingest, "cust-a", "hb-landed", age_s=120)  # a dead process's claims
    await pending(ingest, "cust-a", "hb-lost", age_s=120)
    resolver = a_resolver(ingest)
    assert await resolver.resolve_once() == (1, 1)
    states = dict(await ingest.db.fetch("SELECT event_id, state FROM accepted_events"))
    assert states == {"hb-landed": "published"}

    key = await ingest.key("cust-a")
    body = [to_json_obj(landed), to_json_obj(lost)]
    r = await ingest.client.post("/v1/events", json=body, headers=auth(key, **BATCH))
    assert r.status_code == 202, r.text
    assert r.json()["duplicates"] == ["hb-landed"] and r.json()["published"] == ["hb-lost"]
    assert await ids_on(ingest, MONITORING.name) == Counter({"hb-landed": 1, "hb-lost": 1})


async def test_at_start_pending_ids_found_on_the_topic_are_confirmed_the_others_wait(
    ingest: Ingest,
) -> None:
    """Claims of an earlier process, younger than the orphan grace: the one on Kafka
    is marked published at once; the other stays pending (another instance may still
    be producing it) until the grace frees it."""
    landed = heartbeat("cust-a", "hb-acked")
    await produce(ingest.bootstrap, ingest.topic(MONITORING.name), [landed])
    await pending(ingest, "cust-a", "hb-acked", age_s=5)
    await pending(ingest, "cust-a", "hb-in-flight", age_s=5)
    resolver = a_resolver(ingest)
    assert await resolver.reconcile_at_start() == (1, 0)
    states = dict(await ingest.db.fetch("SELECT event_id, state FROM accepted_events"))
    assert states == {"hb-acked": "published", "hb-in-flight": "pending"}


# -- Postgres down: its own server, so the session's is not disturbed -------------------


@pytest.fixture
async def ingest_on_own_postgres(
    kafka_bootstrap: str, namespace: str, schema: str, server_data_dir: Path
) -> AsyncIterator[tuple[Ingest, LocalPostgres]]:
    postgres = LocalPostgres(server_data_dir, durable=False)
    await asyncio.to_thread(postgres.start)
    url = postgres.database_url
    await migrate(url, schema=schema, package="ingest")
    await prepare_access(url, namespace=namespace)
    await create_topics(kafka_bootstrap, TOPICS, namespace)
    settings = make_settings(
        kafka_bootstrap,
        url,
        namespace,
        schema,
        auth_cache_ttl_s=0,
        accept_timeout_s=5,
        db_timeout_s=2,
        supervisor_not_ready_s=1,
    )
    runtime = IngestRuntime(settings)
    await runtime.start()
    db = await asyncpg.connect(url, server_settings={"search_path": schema})
    transport = httpx.ASGITransport(app=serving_app(runtime), raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://ingest")
    try:
        yield Ingest(client, runtime, db, kafka_bootstrap, namespace), postgres
    finally:
        await client.aclose()
        await runtime.stop()
        await asyncio.to_thread(postgres.stop)


async def test_postgres_down_is_503_with_retry_after_and_recovers_without_restart(
    ingest_on_own_postgres: tuple[Ingest, LocalPostgres],
) -> None:
    ingest, postgres = ingest_on_own_postgres
    key = await ingest.key("cust-a")
    await ingest.db.close()
    first = to_json_obj(heartbeat("cust-a", "hb-before"))
    assert (
        await ingest.client.post("/v1/events", json=first, headers=auth(key))
    ).status_code == 202

    await asyncio.to_thread(postgres.stop)
    try:
        during = to_json_obj(heartbeat("cust-a", "hb-during"))
        r = await ingest.client.post("/v1/events", json=during, headers=auth(key))
        assert r.status_code == 503, r.text  # the key lookup: was a 500
        assert r.headers["retry-after"] == "1" and "nothing was accepted" in r.json()["message"]
        ready = await ingest.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["postgres"] != "ok"
    finally:
        await asyncio.to_thread(postgres.start)

    async def accepted() -> bool:
        r = await ingest.client.post("/v1/events", json=during, headers=auth(key))
        assert r.status_code in (202, 503), r.text
        return r.status_code == 202

    await wait_for_async(accepted, timeout=60, interval=0.5)
    await wait_for_async(
        lambda: _ready(ingest.client), timeout=60, interval=0.5, message="/readyz green"
    )
    assert ingest.runtime.failure is None
    assert await ids_on(ingest, MONITORING.name) == Counter({"hb-before": 1, "hb-during": 1})


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
