"""Crash tests: the real service (`python -m sla_clock`, a subprocess) is SIGKILLed
between consume and commit, between the consumer's state commit and the relay, between
the scheduler's state commit and the relay, and between Kafka's ack and marking sent.
After a restart the SLA topic holds every expected event exactly once, counting raw
records."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from msp_devstack.processes import free_port
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import Envelope, decode
from msp_events.topics import CONTRACTS, SLA, TICKETS
from sla_clock.clock import replay
from sla_clock.monthly import months_due, report_event_id
from sla_clock.service import transition_of

from .conftest import london, prepare, schema_of, snapshot, start_process, stop_process
from .test_scenarios import contract_event, created, reply

pytestmark = pytest.mark.integration
N = 24


def inputs() -> list[Envelope]:
    """P1 tickets (15 min response, 24x7) a minute apart, half of them answered in
    time: the consumer emits starts and met, the scheduler warnings and breaches."""
    start = london(2026, 3, 10, 9)
    events = []
    for i in range(N):
        events.append(created(f"T{i}", start + timedelta(minutes=i), "P1"))
        if i % 2:
            events.append(reply(f"T{i}", start + timedelta(minutes=i + 5)))
    events.append(created("T-tick", start + timedelta(hours=6), "P1"))  # moves event time
    return events


def expected_ids(events: list[Envelope]) -> set[str]:
    """The replay's SLA events and the monthly reports due by the last event time."""
    logs: dict[str, list] = {}  # type: ignore[type-arg]
    for e in events:
        t = transition_of(e)
        assert t is not None
        logs.setdefault(str(getattr(e.data, "ticket_id", "")), []).append(t)
    now = max(e.time for e in events)
    reports = months_due(snapshot(), learnt_at=contract_event().time, now=now)
    return {
        em.event_id
        for ticket, log in logs.items()
        for em in replay(log, snapshot(), ticket_id=ticket, now=now).emissions
    } | {report_event_id(contract_event().customer_id, month) for month in reports}


@pytest.mark.parametrize(
    "crash_point",
    [
        "consumer.before_commit:3",  # between consume and commit
        "consumer.after_commit:3",  # between the consumer's state commit and the relay
        "scheduler.after_commit:1",  # between the scheduler's state commit and the relay
        "relay.after_send:2",  # Kafka acked, not yet marked sent
    ],
)
async def test_crash_then_restart_emits_every_sla_event_exactly_once(
    crash_point: str,
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    schema = schema_of(namespace)
    await prepare(kafka_bootstrap, database_url, namespace, schema)
    events = inputs()
    expected = expected_ids(events)
    await produce(kafka_bootstrap, CONTRACTS.named(namespace), [contract_event()])
    env = service_env(
        kafka=kafka_bootstrap,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        MSP_CONSUMER_BATCH_SIZE="5",
        MSP_SCHEDULER_CLOCK="event_time",
        MSP_SCHEDULER_BATCH_SIZE="3",
    )
    log = tmp_path / "service.log"
    db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    crashing = await start_process({**env, "MSP_CRASH_POINT": crash_point}, log)
    try:
        # the contract first (another topic: its order against tickets is not
        # guaranteed), so that the scheduler, not the consumer's catch-up, fires deadlines
        await wait_for_async(
            lambda: db.fetchval("SELECT count(*) FROM contracts"), timeout=60, message="contract"
        )
        await produce(kafka_bootstrap, TICKETS.named(namespace), events)
        rc = await asyncio.wait_for(crashing.wait(), 120)
    finally:
        if crashing.returncode is None:  # never leave a service behind
            crashing.kill()
            await crashing.wait()
    assert rc == -signal.SIGKILL, f"should have crashed at {crash_point}:\n{log.read_text()}"
    # the kill came in the intended window
    unsent_sql = (
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND convert_from(value, 'UTF8') LIKE $1"
    )
    if crash_point.startswith(("consumer.after_commit", "relay.after_send")):
        assert await db.fetchval(unsent_sql, "%"), "committed but not yet marked sent"
    if crash_point.startswith("scheduler.after_commit"):
        fired = await db.fetchval(unsent_sql, "%msp.sla.warning.v1%") + await db.fetchval(
            unsent_sql, "%msp.sla.breached.v1%"
        )
        assert fired, "the scheduler's events were committed, not relayed"
    if crash_point.startswith("relay.after_send"):
        assert await read_topic(kafka_bootstrap, SLA.named(namespace)), "on Kafka already"
    healthy = await start_process({**env, "MSP_HTTP_PORT": str(free_port())}, log)
    try:

        async def done() -> bool:
            unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            emitted = await db.fetchval("SELECT count(*) FROM emitted")
            return unsent == 0 and emitted == len(expected)

        await wait_for_async(done, timeout=120, message="all SLA events emitted and relayed")
    finally:
        await stop_process(healthy)
        await db.close()

    records = await read_topic(kafka_bootstrap, SLA.named(namespace))
    ids = Counter(decode(r.value).id for r in records)
    assert set(ids) == expected, "lost or unexpected SLA events"
    assert max(ids.values()) == 1, f"published twice: {[i for i, n in ids.items() if n > 1]}"
    kinds = Counter(decode(r.value).type for r in records)
    assert kinds["msp.sla.breached.v1"] > 0 and kinds["msp.sla.warning.v1"] > 0
