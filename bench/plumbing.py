"""Benchmark of the shared consumer path (msp_plumbing), the cost every stateful
service pays per event: decode, dedupe by id, one state insert, one output event,
offsets — in one Postgres transaction per batch — then the outbox relay to Kafka.

Compared, in the same run and on the same records, with the raw aiokafka producer and
the raw aiokafka consumer (the ceilings). The runtime runs in this process; the CPU
time each part spent from the first applied event until the outbox was drained (this
process, the broker, Postgres, the whole machine) is reported per event, so the
figures stay comparable on a busy machine. Run: `make bench-plumbing`.
Writes bench/results/plumbing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    CpuMeter,
    infrastructure,
    listener_pid,
    machine,
    port_of,
    server_version,
    write_results,
)
from msp_events import Envelope, derive_event_id, encode, make_event
from msp_events.topics import DEAD_LETTER, TICKETS, Topic
from msp_events.types.tickets import TicketAssigned, TicketCreated
from msp_plumbing.consumer import Tx
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_plumbing.runtime import ServiceRuntime, freeze_startup_heap
from msp_plumbing.settings import ServiceSettings

OUT = Topic("bench.out.v1", "benchmark output", (), producers=(), consumers=())


def make_inputs(n: int) -> list[tuple[bytes, bytes]]:
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    records = []
    for i in range(n):
        data = TicketCreated(
            ticket_id=f"T{i}",
            title="printer jammed",
            priority="P3",
            category="help_desk",
            source="phone",
            opened_at=base + timedelta(seconds=i),
        )
        event = make_event(
            data,
            customer_id=f"cust-{i % 30}",
            source="/bench",
            time=data.opened_at,
            id=f"bench-{i}",
        )
        record = encode(event)
        records.append((record.key, record.value))
    return records


async def raw_produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, v, key=k) for k, v in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got, started = 0, None
        while got < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            if started is None and batch:
                started = time.perf_counter()
            got += sum(len(r) for r in batch.values())
        assert started is not None
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def emit_assigned(tx: Tx, event: Envelope, ticket_id: str) -> None:
    out = TicketAssigned(ticket_id=ticket_id, team="bench", assigned_at=event.time)
    tx.emit(
        make_event(
            out,
            customer_id=event.customer_id,
            source="/bench",
            time=event.time,
            id=derive_event_id(event.id, "assigned"),
            trusted=True,  # every part comes from the validated input event
        ),
        topic=tx.namespace + OUT.name,
    )


async def handle(tx: Tx, event: Envelope) -> None:
    """A typical handler: one state row, one derived output event."""
    assert isinstance(event.data, TicketCreated)
    await tx.conn.execute(
        "INSERT INTO bench_state (ticket_id, priority) VALUES ($1, $2)",
        event.data.ticket_id,
        event.data.priority,
    )
    emit_assigned(tx, event, event.data.ticket_id)


async def handle_batch(tx: Tx, events: Sequence[Envelope]) -> None:
    """The same work, set-based: one INSERT for the whole batch."""
    rows = [e.data for e in events if isinstance(e.data, TicketCreated)]
    await tx.conn.execute(
        "INSERT INTO bench_state (ticket_id, priority) "
        "SELECT * FROM unnest($1::text[], $2::text[])",
        [r.ticket_id for r in rows],
        [r.priority for r in rows],
    )
    for event, row in zip(events, rows, strict=True):
        emit_assigned(tx, event, row.ticket_id)


async def transactional(
    kafka: str, db: str, namespace: str, n: int, batch: int, *, set_based: bool
) -> dict[str, float]:
    # each variant gets its own schema (own offsets and dedupe), so both read all n
    schema = namespace.strip("_") + ("_set" if set_based else "_one")
    await migrate(db, schema=schema)
    conn = await asyncpg.connect(db, server_settings={"search_path": schema})
    await conn.execute("CREATE TABLE bench_state (ticket_id text PRIMARY KEY, priority text)")
    settings = ServiceSettings(
        service_name="bench",
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=db,  # type: ignore[call-arg]
        db_schema=schema,
        topic_namespace=namespace,
        consumer_batch_size=batch,
    )
    runtime = ServiceRuntime(settings)
    # The service runs in this process (its children are the local broker and
    # Postgres: not the service's), so its CPU is this process's; the polling below
    # is negligible.
    meter = CpuMeter(None, listener_pid(port_of(kafka)), listener_pid(port_of(db)))
    if set_based:
        runtime.add_consumer("main", [TICKETS], batch_handler=handle_batch)
    else:
        runtime.add_consumer("main", [TICKETS], handle)
    await runtime.start()
    try:
        deadline = time.monotonic() + 600  # bounded: a stuck run fails, never hangs
        first = None
        while (applied := await conn.fetchval("SELECT count(*) FROM processed_events")) < n:
            if first is None and applied:
                first = (time.perf_counter(), applied, meter.sample())
            assert time.monotonic() < deadline, f"only {applied}/{n} applied"
            await asyncio.sleep(0.05)
        applied_at = time.perf_counter()
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            assert time.monotonic() < deadline, "outbox not drained"
            await asyncio.sleep(0.05)
        relayed_at = time.perf_counter()
        cpu_after = meter.sample()
    finally:
        await runtime.stop()
        await conn.close()
    assert first is not None
    t0, n0, cpu_before = first
    cpu = CpuMeter.seconds(cpu_before, cpu_after)
    cpu["service"] = cpu.pop("load_generator")
    return {
        "applied_events_per_s": (n - n0) / (applied_at - t0),
        "applied_and_relayed_events_per_s": (n - n0) / (relayed_at - t0),
        **{
            f"{part}_cpu_us_per_event": cpu[part] / (n - n0) * 1e6
            for part in ("service", "kafka", "postgres", "machine")
        },
    }


async def main(n: int, batch: int) -> None:
    with infrastructure() as infra:
        namespace = f"b_{uuid.uuid4().hex[:6]}_"
        await ensure_topics(infra.kafka, [TICKETS, DEAD_LETTER, OUT], namespace=namespace)
        records = make_inputs(n)
        freeze_startup_heap()  # as `msp_plumbing.app.serve` does before serving
        topic = TICKETS.named(namespace)
        produce_rate = await raw_produce(infra.kafka, topic, records)
        consume_rate = await raw_consume(infra.kafka, topic, n)
        one = await transactional(
            infra.kafka, infra.database_url, namespace, n, batch, set_based=False
        )
        many = await transactional(
            infra.kafka, infra.database_url, namespace, n, batch, set_based=True
        )
        metrics = {
            "events": float(n),
            "batch_size_records": float(batch),
            "raw_produce_events_per_s": round(produce_rate),
            "raw_consume_events_per_s": round(consume_rate),
            "per_event_handler_applied_events_per_s": round(one["applied_events_per_s"]),
            "per_event_handler_relayed_events_per_s": round(
                one["applied_and_relayed_events_per_s"]
            ),
            "batch_handler_applied_events_per_s": round(many["applied_events_per_s"]),
            "batch_handler_relayed_events_per_s": round(many["applied_and_relayed_events_per_s"]),
            # CPU from the first applied event until the outbox was drained, per event
            **{
                f"{variant}_{key}": round(value)
                for variant, run in (("per_event_handler", one), ("batch_handler", many))
                for key, value in run.items()
                if key.endswith("_cpu_us_per_event")
            },
            "ratio_batch_handler_to_raw_consume": round(
                many["applied_events_per_s"] / consume_rate, 3
            ),
            # each input emits one output, so the producer rate is the real ceiling
            "ratio_batch_handler_to_raw_produce": round(
                many["applied_and_relayed_events_per_s"] / produce_rate, 3
            ),
        }
        metrics["load_average_1m"] = round(os.getloadavg()[0], 2)
        path = write_results(
            "plumbing", machine(infra, await server_version(infra.database_url)), metrics
        )
        print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch))
