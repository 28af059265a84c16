"""`msp_consumer_lag_records` from the plumbing's TransactionalConsumer on the real
broker and Postgres: produce N records, let the consumer apply only part of them (its
handler blocks on a gate), and read the gauge: high watermark minus next offset."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from msp_devstack.testing import create_topics
from msp_devstack.testkit import produce, wait_for_async
from msp_events import Envelope, make_event
from msp_events.topics import DEAD_LETTER, TICKETS
from msp_events.types.tickets import TicketCreated
from msp_plumbing.consumer import TransactionalConsumer, Tx
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

N = 10
BATCH = 3
APPLIED_BEFORE_GATE = 6  # two whole batches commit, the third blocks in its handler


def tickets(n: int) -> list[Envelope]:
    t0 = datetime(2026, 3, 3, 10, tzinfo=UTC)
    return [
        make_event(
            TicketCreated(
                ticket_id=f"T-{i}",
                title="printer on fire",
                priority="P3",
                category="help_desk",
                source="email",
                opened_at=t0 + timedelta(minutes=i),
            ),
            customer_id="lag-co",  # one key: every record on one partition
            source="/test",
            time=t0 + timedelta(minutes=i),
            id=f"lag-{i}",
        )
        for i in range(n)
    ]


def lag(group: str, topic: str) -> float | None:
    """The gauge summed over the group's partitions of `topic` (None: no series yet)."""
    values = [
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "msp_consumer_lag_records"
        for sample in metric.samples
        if sample.labels.get("group") == group and sample.labels.get("topic") == topic
    ]
    return sum(values) if values else None


async def test_lag_is_high_watermark_minus_applied_and_drains_to_zero(
    kafka_bootstrap: str, database_url: str, namespace: str
) -> None:
    schema = namespace.strip("_").lower()
    await migrate(database_url, schema=schema)
    names = await create_topics(kafka_bootstrap, [TICKETS, DEAD_LETTER], namespace=namespace)
    topic = names[TICKETS.name]
    await produce(kafka_bootstrap, topic, tickets(N))

    applied: list[str] = []
    gate = asyncio.Event()

    async def handle(tx: Tx, events: Sequence[Envelope]) -> None:
        for event in events:
            if len(applied) >= APPLIED_BEFORE_GATE:
                await gate.wait()
            applied.append(event.id)

    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    group = f"{namespace}lagtest"
    consumer = TransactionalConsumer(
        pool=pool,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        topics=[topic],
        batch_handler=handle,
        service="lagtest",
        schema=schema,
        namespace=namespace,
        batch_size=BATCH,
    )
    task = asyncio.create_task(consumer.run())
    try:
        # two batches committed, the third stuck in the handler: 10 - 6 behind
        partial = await wait_for_async(
            lambda: lag(group, topic) == N - APPLIED_BEFORE_GATE,
            timeout=90,
            message=lambda: f"lag {N - APPLIED_BEFORE_GATE} (now {lag(group, topic)})",
        )
        assert partial
        gate.set()
        await wait_for_async(
            lambda: lag(group, topic) == 0,
            timeout=90,
            message=lambda: f"lag 0 after the gate opened (now {lag(group, topic)})",
        )
        assert sorted(applied) == sorted(e.id for e in tickets(N))
        # more records later: applied as they come, lag back to 0
        await produce(kafka_bootstrap, topic, tickets(N + 4)[N:])
        await wait_for_async(
            lambda: len(applied) == N + 4 and lag(group, topic) == 0,
            timeout=90,
            message=lambda: f"all 14 applied, lag 0 (now {lag(group, topic)})",
        )
    finally:
        gate.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
