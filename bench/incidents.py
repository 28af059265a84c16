"""Benchmark of the incidents service: monitoring events/s triaged by one worker (the
whole service in one process: the triage consumer with its state, offsets, outbox and
triage log in one Postgres transaction per batch, projection consumer, outbox relay),
against the raw aiokafka consume rate of the same topic (the ceiling), and the noise
reduction (alerts per incident) on a synthetic storm.

Load: the simulator's generator (`msp_simulator.load.site_storms`, the world `make run`
plays), on its first `--customers` monitored customers with their contracts. Per
customer: a storm of `--storm` device-offline alerts from its biggest site, repeats of
every one of them, `--singles` isolated device alerts spread out in time (each its own
incident) with agent check-ins, then the site's resolves.
Run: `make bench-incidents`. Writes bench/results/incidents.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from bench.common import (
    consumer_from_start,
    infrastructure,
    machine,
    server_version,
    write_results,
)
from incidents.metrics import NOISE
from incidents.runtime import IncidentsRuntime
from incidents.settings import IncidentsSettings
from msp_events import Envelope, encode
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, MONITORING, TICKETS
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.load import monitored_customers, site_storms, world_contracts


async def publish(bootstrap: str, topic: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for e in events:
            r = encode(e)
            futures.append(await producer.send(topic, r.value, key=r.key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    """The ceiling: read the same records with a bare aiokafka consumer (partitions
    assigned directly, so no group join is timed)."""
    async with consumer_from_start(bootstrap, topic) as consumer:
        got, started = 0, time.perf_counter()
        while got < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            got += sum(len(r) for r in batch.values())
        return n / (time.perf_counter() - started)


def triaged(group: str) -> int:
    """Records the triage consumer has committed (applied, duplicate, dead-lettered)."""
    total = 0.0
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.name == "msp_consumer_records_total" and s.labels.get("group") == group:
                total += s.value
    return int(total)


async def triage(kafka: str, db: str, ns: str, n_inputs: int) -> dict[str, float]:
    schema = ns.strip("_")
    await migrate(db, schema=schema, package="incidents")
    settings = IncidentsSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka,  # type: ignore[call-arg]
        DATABASE_URL=db,
        topic_namespace=ns,
        db_schema=schema,
        wall_clock_tick_s=0,
        log_level="WARNING",
    )
    runtime = IncidentsRuntime(settings)
    started = time.perf_counter()
    await runtime.start()
    startup = time.perf_counter() - started
    group = settings.group_id("triage")
    try:
        deadline = time.monotonic() + 300  # bounded: a stuck run fails, never hangs
        first = None
        while (done_now := triaged(group)) < n_inputs:
            if first is None and done_now:
                first = (time.perf_counter(), done_now)
            assert time.monotonic() < deadline, f"only {done_now}/{n_inputs} triaged"
            await asyncio.sleep(0.01)
        done = time.perf_counter()
    finally:
        await runtime.stop()
    assert first is not None
    t0, n0 = first
    batches = REGISTRY.get_sample_value("msp_incidents_triage_batch_seconds_count") or 0.0
    in_batches = REGISTRY.get_sample_value("msp_incidents_triage_batch_seconds_sum") or 0.0
    return {
        "batches": batches,
        "seconds_in_batches": in_batches,
        "startup_s": startup,
        "triaged_events_per_s": (n_inputs - n0) / (done - t0),
        "alerts_per_incident": NOISE.alerts_in_incidents / max(1, NOISE.incidents_opened),
        "incidents": float(NOISE.incidents_opened),
    }


async def main(customers: int, storm: int, singles: int) -> None:
    with infrastructure() as infra:
        ns = f"b_{uuid.uuid4().hex[:6]}_"
        await ensure_topics(
            infra.kafka, [MONITORING, CONTRACTS, TICKETS, INCIDENTS, DEAD_LETTER], namespace=ns
        )
        world = monitored_customers(customers=customers)
        events = site_storms(customers=world, storm=storm, singles=singles, run="bench")
        await publish(infra.kafka, CONTRACTS.named(ns), world_contracts(world))
        await publish(infra.kafka, MONITORING.named(ns), events)
        consume_rate = await raw_consume(infra.kafka, MONITORING.named(ns), len(events))
        result = await triage(infra.kafka, infra.database_url, ns, len(events) + customers)
        facts = machine(infra, await server_version(infra.database_url))
        metrics = {
            "events": float(len(events)),
            "customers": float(customers),
            "storm_alerts_per_site": float(storm),
            "raw_consume_events_per_s": round(consume_rate),
            "triaged_events_per_s": round(result["triaged_events_per_s"]),
            "ratio_to_raw_consume": round(result["triaged_events_per_s"] / consume_rate, 3),
            "alerts_per_incident": round(result["alerts_per_incident"], 2),
            "incidents_opened": result["incidents"],
            "service_startup_s": round(result["startup_s"], 2),
            "triage_batches": result["batches"],
            "share_of_time_in_triage_batches": round(
                result["seconds_in_batches"] * result["triaged_events_per_s"] / len(events), 3
            ),
        }
        path = write_results("incidents", facts, metrics)
        print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--storm", type=int, default=200)
    parser.add_argument("--singles", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.storm, args.singles))
