"""Benchmark of sla-clock: ticket events/s through its consumer, and breach-emission lag
while 100,000 clocks (50,000 tickets) run at once. The real service runtime runs
in-process (transactional consumer + deadline scheduler + outbox relay, wall clock).

Tickets and contracts come from the simulator's generator (`msp_simulator.load`: the
world `make run` plays, 60 customers, their contracts with one 24x7 P3 target and no
warnings; customer-reported tickets on their devices).

1. Throughput: 50,000 `TicketCreated` (P3, 24x7 targets: 60 min response, 24 h
   resolution; opened over the last 50 minutes, so their deadlines are spread over the
   next 10 to 60 minutes) are produced, then the runtime starts. Timed from the first
   committed batch to the last: `ticket_events_per_s`. Each ticket makes two running
   clocks, their deadline rows and two clock-started events (relayed to Kafka
   meanwhile, by the same process: `relayed_events_per_s` until the outbox is empty).
2. Lag: with those 100,000 clocks running, `--late` more tickets are produced whose
   first-response deadlines fall `--lead` to `--lead` + `--spread` s later; nothing else
   is sent, so the scheduler alone fires each breach when due. Lag = Kafka timestamp of
   the breach record (set by the relay's producer) minus the deadline: p50/p99/max.

Run: `make bench-sla`. Writes bench/results/sla.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from statistics import quantiles

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import (
    consumer_from_start,
    infrastructure,
    machine,
    server_version,
    write_results,
)
from msp_events import Envelope, decode, encode
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, SLA, TICKETS
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.load import open_tickets, sla_policy, world_contracts
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.world import Customer, build_world
from sla_clock.runtime import SlaRuntime
from sla_clock.settings import SlaSettings

CUSTOMERS = 60
RESPONSE_MIN = 60
RESOLUTION_MIN = 24 * 60


@cache
def world() -> tuple[Customer, ...]:
    """The simulated month's customers (ids, time zones, devices, contracts)."""
    return build_world(seed=1, month=DEFAULT_MONTH, customers=CUSTOMERS).customers


def contracts() -> list[Envelope]:
    """The world's first CUSTOMERS customers' contracts, with one 24x7 P3 target."""
    policy = sla_policy(
        priority="P3", response_minutes=RESPONSE_MIN, resolution_minutes=RESOLUTION_MIN
    )
    return world_contracts(world(), sla=policy)


async def produce(kafka: str, topic: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for env in events:
            rec = encode(env)
            futures.append(await producer.send(topic, rec.value, key=rec.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_tickets(
    kafka: str, namespace: str, prefix: str, n: int, first_due: datetime, spread_s: float
) -> None:
    """`n` tickets (the simulator's generator) whose first-response deadlines spread
    evenly over `spread_s` seconds from `first_due`."""
    tickets = open_tickets(
        customers=world(),
        n=n,
        first_due=first_due,
        spread_s=spread_s,
        response_minutes=RESPONSE_MIN,
        priority="P3",
        run=prefix,
    )
    await produce(kafka, TICKETS.named(namespace), tickets)


async def read_breach_lags(kafka: str, topic: str, expect: int, timeout_s: float) -> list[float]:
    async with consumer_from_start(kafka, topic) as consumer:
        lags: list[float] = []
        deadline = time.monotonic() + timeout_s
        while len(lags) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for r in records:
                    if b"msp.sla.breached.v1" not in r.value:
                        continue
                    data = decode(r.value).data
                    due = data.due_at  # type: ignore[attr-defined]
                    lags.append(r.timestamp / 1000 - due.timestamp())
        return lags


async def wait_consumed(conn: asyncpg.Connection, topic: str, n: int) -> float:
    """Events/s from the first committed batch until `n` records of `topic` are done."""
    sql = "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE topic = $1"
    first = None
    limit = time.monotonic() + 900  # bounded: a stuck run fails, never hangs
    while (done := await conn.fetchval(sql, topic)) < n:
        if first is None and done:
            first = (time.perf_counter(), done)
        assert time.monotonic() < limit, f"only {done}/{n} consumed"
        await asyncio.sleep(0.05)
    assert first is not None
    return float((n - first[1]) / (time.perf_counter() - first[0]))


async def wait_relayed(conn: asyncpg.Connection) -> None:
    limit = time.monotonic() + 900
    while await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
        assert time.monotonic() < limit, "outbox not drained"
        await asyncio.sleep(0.1)


async def main(n: int, late: int, lead_s: float, spread_s: float, consumers: int) -> None:
    with infrastructure() as infra:
        namespace = f"b_{uuid.uuid4().hex[:6]}_"
        schema = namespace.strip("_") + "_sla"
        await ensure_topics(
            infra.kafka, [TICKETS, CONTRACTS, INCIDENTS, SLA, DEAD_LETTER], namespace=namespace
        )
        await migrate(infra.database_url, schema=schema, package="sla_clock")
        await produce(infra.kafka, CONTRACTS.named(namespace), contracts())
        now = datetime.now(UTC)
        await produce_tickets(infra.kafka, namespace, "T", n, now + timedelta(minutes=10), 50 * 60)
        settings = SlaSettings(
            KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
            DATABASE_URL=infra.database_url,
            db_schema=schema,
            topic_namespace=namespace,
            consumer_batch_size=1000,
            consumers_per_process=consumers,
            scheduler_clock="wall",
        )
        runtime = SlaRuntime(settings)
        conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
        await runtime.start()
        topic = TICKETS.named(namespace)
        try:
            relay_started = time.perf_counter()
            events_per_s = await wait_consumed(conn, topic, n)
            await wait_relayed(conn)
            relayed = await conn.fetchval("SELECT count(*) FROM outbox")
            relayed_per_s = relayed / (time.perf_counter() - relay_started)
            running = await conn.fetchval("SELECT count(*) FROM clocks WHERE state = 'running'")
            print(f"{n} ticket events at {events_per_s:.0f}/s; {running} running clocks")
            first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
            await produce_tickets(infra.kafka, namespace, "L", late, first_due, spread_s)
            lags = await read_breach_lags(
                infra.kafka, SLA.named(namespace), late, lead_s + spread_s + 120
            )
        finally:
            await runtime.stop()
            await conn.close()
        assert len(lags) == late, f"only {len(lags)}/{late} breaches emitted"
        cuts = quantiles(lags, n=100)
        metrics = {
            "tickets": float(n),
            "consumers_per_process": float(consumers),
            "running_clocks": float(running),
            "ticket_events_per_s": round(events_per_s),
            "relayed_events_per_s": round(relayed_per_s),
            "breaches_measured": float(late),
            "breaches_due_per_s": round(late / spread_s),
            "breach_lag_p50_s": round(cuts[49], 3),
            "breach_lag_p99_s": round(cuts[98], 3),
            "breach_lag_max_s": round(max(lags), 3),
        }
        path = write_results(
            "sla", machine(infra, await server_version(infra.database_url)), metrics
        )
        print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 50,000 tickets = the 100,000 running clocks (two per ticket); 10,000 breaches
    # due over 10 s = 1,000 breaches/s: the whole run fits in about 3 minutes
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--late", type=int, default=10_000, help="tickets that breach")
    parser.add_argument("--lead", type=float, default=30.0, help="s until their 1st deadline")
    parser.add_argument("--spread", type=float, default=10.0, help="s over which they fall")
    parser.add_argument(
        "--consumers",
        type=int,
        default=SlaSettings.model_fields["consumers_per_process"].default,
        help="consumer group members in the process (default: the service's)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.late, args.lead, args.spread, args.consumers))
