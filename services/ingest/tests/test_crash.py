"""Crash tests with the real service process (`python -m ingest`). The raw-topic path:
SIGKILLed between consume and commit, and between Kafka's ack and marking the outbox
row sent; after a restart every raw event is on the canonical topic exactly once
(counting records, not distinct ids), replayed duplicates included. The HTTP path:
SIGKILLed between Kafka's ack and the claim's commit, a client's retry after the
restart is a 202 duplicate and the event is on the topic once."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from ingest_testkit import PEPPER
from ingest_testkit_events import heartbeats

from msp_access.apikeys import create_key
from msp_devstack.access import access_schema
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import decode
from msp_events.serde import to_json_obj
from msp_events.topics import MONITORING, RAW_MONITORING

pytestmark = pytest.mark.integration

N = 30
REPLAYED = 10


def ingest_env(
    kafka: str, database_url: str, namespace: str, schema: str, crash: str | None
) -> dict[str, str]:
    return service_env(
        kafka=kafka,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        crash=crash,
        MSP_CONSUMER_BATCH_SIZE="5",
        MSP_API_KEY_PEPPER=PEPPER,
    )


async def start(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ingest", env=env, stdout=sink, stderr=sink
        )


@pytest.mark.parametrize("crash_point", ["consumer.before_commit:2", "relay.after_send:1"])
async def test_killed_service_restarts_without_loss_or_duplicates(
    crash_point: str,
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    prepared: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    events = heartbeats(N)
    raw = RAW_MONITORING.named(namespace)
    await produce(kafka_bootstrap, raw, events)
    await produce(kafka_bootstrap, raw, events[:REPLAYED])  # a publisher's retry
    log = tmp_path / "ingest.log"
    db = prepared

    crashing = await start(
        ingest_env(kafka_bootstrap, database_url, namespace, schema, crash_point), log
    )
    rc = await asyncio.wait_for(crashing.wait(), 90)
    assert rc == -signal.SIGKILL, f"should have died at {crash_point}:\n{log.read_text()}"
    if crash_point.startswith("relay"):
        unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        on_kafka = len(await read_topic(kafka_bootstrap, MONITORING.named(namespace)))
        assert unsent > 0 and on_kafka > 0, "acked by Kafka but not marked sent"

    healthy = await start(ingest_env(kafka_bootstrap, database_url, namespace, schema, None), log)
    try:

        async def caught_up() -> bool:
            consumed = await db.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE topic = $1", raw
            )
            unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            return bool(consumed == N + REPLAYED and unsent == 0)

        await wait_for_async(caught_up, timeout=90, message="every raw record consumed and relayed")
    finally:
        healthy.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        rc = await asyncio.wait_for(healthy.wait(), 30)
        assert rc in (0, -signal.SIGTERM), log.read_text()
        assert "Application shutdown complete" in log.read_text()

    records = await read_topic(kafka_bootstrap, MONITORING.named(namespace))
    ids = Counter(decode(r.value).id for r in records)
    assert len(records) == N, f"expected {N} records on the canonical topic, got {len(records)}"
    assert set(ids) == {e.id for e in events} and max(ids.values()) == 1


async def test_killed_between_kafkas_ack_and_the_claim_commit_a_retry_is_a_duplicate(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    prepared: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """The real process is SIGKILLed after Kafka acknowledged a post and before the
    claim became `published`; the restarted process confirms the claim from the topic
    before it serves, so the client's retry is a 202 duplicate and the topic holds the
    event once."""
    event = heartbeats(1, prefix="acked")[0]
    _, key = await create_key(
        prepared,
        schema=access_schema(namespace),
        pepper=PEPPER,
        source="crash-tests",
        customer_ids=[event.customer_id],
        roles=("publisher",),
    )
    post = {"json": to_json_obj(event), "headers": {"authorization": f"Bearer {key}"}}
    log = tmp_path / "ingest.log"
    environ = ingest_env(kafka_bootstrap, database_url, namespace, schema, "claims.after_ack")
    crashing = await start(environ, log)
    url = f"http://127.0.0.1:{environ['MSP_HTTP_PORT']}"
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        await wait_for_async(lambda: _ready(http), timeout=90, message=lambda: log.read_text())
        with pytest.raises(httpx.TransportError):  # the process died under the request
            await http.post("/v1/events", **post)
    rc = await asyncio.wait_for(crashing.wait(), 30)
    assert rc == -signal.SIGKILL, f"should have died after the ack:\n{log.read_text()}"
    state = await prepared.fetchval(
        "SELECT state FROM accepted_events WHERE event_id = $1", event.id
    )
    assert state == "pending", "the claim should be left pending by the kill"
    assert [decode(r.value).id for r in await read_topic(kafka_bootstrap, topic(namespace))] == [
        event.id
    ], "Kafka should hold the acknowledged event"

    environ = ingest_env(kafka_bootstrap, database_url, namespace, schema, None)
    healthy = await start(environ, log)
    try:
        url = f"http://127.0.0.1:{environ['MSP_HTTP_PORT']}"
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            await wait_for_async(lambda: _ready(http), timeout=90, message=lambda: log.read_text())
            r = await http.post("/v1/events", **post)  # the client's retry
        assert r.status_code == 202, r.text
        assert r.json()["duplicates"] == [event.id] and r.json()["published"] == []
    finally:
        healthy.send_signal(signal.SIGTERM)
        await asyncio.wait_for(healthy.wait(), 30)
    state = await prepared.fetchval(
        "SELECT state FROM accepted_events WHERE event_id = $1", event.id
    )
    assert state == "published"
    ids = [decode(r.value).id for r in await read_topic(kafka_bootstrap, topic(namespace))]
    assert ids == [event.id], f"the event should be on the topic once: {ids}"


def topic(namespace: str) -> str:
    return MONITORING.named(namespace)


async def _ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False
