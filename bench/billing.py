"""Benchmark of the billing service: time entries classified, priced and persisted
per second through its Kafka consumer (decode, dedupe, classify, price, line-item rows,
LineItemRecorded outbox rows, offsets — one Postgres transaction per batch — then the
relay), and the monthly invoice run for 1,000 customers (seconds, one API call).

The entries are a backlog produced while the service is stopped (its contracts already
consumed), so the rate is the service's catch-up throughput. CPU per entry of the
service, Postgres and Kafka is reported too (steadier than rates on a shared machine).
A second pass repeats the consumer part with two instances in the group
(`two_instances_*`; the second one is a `python -m billing` subprocess).

Run: `make bench-billing`. Writes bench/results/billing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench.common import Infra, infrastructure, machine, server_version, write_results
from billing.__main__ import build
from billing.settings import BillingSettings
from msp_devstack.access import bearer, new_key
from msp_events import Envelope, encode
from msp_events.topics import (
    BILLING_INVOICES,
    BILLING_LINE_ITEMS,
    CHANGE_ORDERS,
    CONTRACTS,
    DEAD_LETTER,
    FINANCE_ACCOUNTING,
    MONITORING,
    TICKETS,
)
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.load import contract_snapshots, time_entries


def make_records(customers: int, entries: int) -> tuple[list[tuple[bytes, bytes]], ...]:
    # The simulator's generator (the world `make run` plays, at benchmark scale):
    # managed, VIP and on-demand contracts in six time zones and currencies, every 10th
    # managed one amended mid-March; time entries in covered and project categories.
    def records(events: list[Envelope]) -> list[tuple[bytes, bytes]]:
        return [(r.key, r.value) for r in map(encode, events)]

    contracts = records(contract_snapshots(customers=customers))
    return contracts, records(time_entries(n=entries, customers=customers, run="bench"))


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, v, key=k) for k, v in records])
    finally:
        await producer.stop()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of this process's descendants by command name (the
    local broker is `java`, Postgres `postgres`); 0 for external infrastructure."""
    parent: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            text = (proc / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        parent[int(proc.name)] = int(fields[1])
        stats[int(proc.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    me, found = os.getpid(), dict[str, float]()
    for pid, (name, cpu) in stats.items():
        up = pid
        while up in parent and up not in (0, 1, me):
            up = parent[up]
        if up == me and pid != me:
            found[name] = found.get(name, 0.0) + cpu
    return found


async def wait(conn: asyncpg.Connection, sql: str, target: int, deadline: float) -> float:
    while (done := await conn.fetchval(sql)) < target:
        assert time.monotonic() < deadline, f"only {done}/{target}"
        await asyncio.sleep(0.05)
    return time.perf_counter()


def start_instances(
    count: int, infra: Infra, schema: str, namespace: str, batch: int
) -> list[subprocess.Popen[bytes]]:
    """Further instances of the service (`python -m billing`) in the same consumer group."""
    procs = []
    for i in range(count):
        env = os.environ | {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "DATABASE_URL": infra.database_url,
            "MSP_DB_SCHEMA": schema,
            "MSP_TOPIC_NAMESPACE": namespace,
            "MSP_CONSUMER_BATCH_SIZE": str(batch),
            "MSP_HTTP_PORT": str(18900 + i),
            "MSP_LOG_LEVEL": "WARNING",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "billing"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


async def wait_ready(port: int, deadline: float) -> None:
    async with httpx.AsyncClient() as client:
        while True:
            assert time.monotonic() < deadline, f"instance on port {port} never ready"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def main(customers: int, entries: int, batch: int, profile: str | None) -> None:
    with infrastructure() as infra:
        metrics = await run(infra, customers, entries, batch, profile, instances=1)
        # The same backlog, fresh topics and schema, two instances in the group
        # (6 partitions: the second is a `python -m billing` subprocess).
        two = await run(infra, customers, entries, batch, None, instances=2)
        for key in ("entries_classified_priced_persisted_per_s", "service_cpu_us_per_entry"):
            metrics[f"two_instances_{key}"] = two[key]
        path = write_results(
            "billing", machine(infra, await server_version(infra.database_url)), metrics
        )
        print(path.read_text())


async def run(
    infra: Infra,
    customers: int,
    entries: int,
    batch: int,
    profile: str | None,
    *,
    instances: int,
) -> dict[str, float]:
    """One measured pass; the invoice run only with one instance."""
    namespace = f"b_{uuid.uuid4().hex[:6]}_"
    schema = namespace.strip("_")
    await ensure_topics(
        infra.kafka,
        [
            CONTRACTS,
            CHANGE_ORDERS,
            TICKETS,
            MONITORING,
            DEAD_LETTER,
            BILLING_LINE_ITEMS,
            BILLING_INVOICES,
            FINANCE_ACCOUNTING,
        ],
        namespace=namespace,
    )
    await migrate(infra.database_url, schema=schema, package="billing")
    contracts, tickets = make_records(customers, entries)
    await produce(infra.kafka, CONTRACTS.named(namespace), contracts)
    settings = BillingSettings(
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        DATABASE_URL=infra.database_url,
        db_schema=schema,
        topic_namespace=namespace,
        consumer_batch_size=batch,
    )
    app, runtime = build(settings)
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    deadline = time.monotonic() + 600  # bounded: a stuck run fails, never hangs
    # Contracts first (so no entry waits for its contract), then the entries as a
    # backlog while the service is stopped: the rate is the consumer's catch-up
    # throughput, not the bench's own producer sharing the event loop with it.
    await runtime.start()
    try:
        await wait(conn, "SELECT count(*) FROM contracts", customers, deadline)
    finally:
        await runtime.stop()
    await produce(infra.kafka, TICKETS.named(namespace), tickets)
    others = start_instances(instances - 1, infra, schema, namespace, batch)
    for i in range(len(others)):
        await wait_ready(18900 + i, deadline)
    await runtime.start()
    try:
        applied_sql = "SELECT count(*) FROM entries"
        # Timed from a fifth of the backlog on: steady state, past the one-off start
        # (group join and rebalance, parsing every contract once per process).
        while (first := await conn.fetchval(applied_sql)) < entries // 5:
            assert time.monotonic() < deadline, "nothing applied"
            await asyncio.sleep(0.02)
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        t0, cpu0, infra0 = time.perf_counter(), _cpu_s(), _children_cpu_s()
        applied_at = await wait(conn, applied_sql, entries, deadline)
        cpu_s = _cpu_s() - cpu0
        infra_s = {k: v - infra0.get(k, 0.0) for k, v in _children_cpu_s().items()}
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        unsent = "SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"
        relayed_at = await wait(conn, f"SELECT ({unsent})::int", 1, deadline)
        lines = await conn.fetchval("SELECT count(*) FROM line_items")
        if instances > 1:
            return {
                "entries_classified_priced_persisted_per_s": round(
                    (entries - first) / (applied_at - t0)
                ),
                "service_cpu_us_per_entry": round(
                    (cpu_s + sum(v for k, v in infra_s.items() if k.startswith("python")))
                    / (entries - first)
                    * 1e6,
                    1,
                ),
            }
        transport = httpx.ASGITransport(app=app)
        headers = bearer(await new_key(infra.database_url, namespace=namespace, source="bench"))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://b", headers=headers
        ) as client:
            started = time.perf_counter()
            response = await client.post(
                "/v1/invoice-runs",
                json={"period": "2026-03", "as_of": "2026-04-02T00:00:00Z"},
                timeout=120,
            )
            run_s = time.perf_counter() - started
        response.raise_for_status()
        outcomes = response.json()["outcomes"]
        issued = sum(o["outcome"] == "issued" for o in outcomes)
        started = time.perf_counter()
        await wait(conn, f"SELECT ({unsent})::int", 1, deadline)
        invoices_relayed_s = time.perf_counter() - started
    finally:
        for proc in others:
            proc.terminate()
            proc.wait(timeout=30)
        await runtime.stop()
        await conn.close()
    n = entries - first
    others_cpu_s = sum(v for k, v in infra_s.items() if k.startswith("python"))
    metrics = {
        "entries": float(entries),
        "customers": float(customers),
        "batch_size_records": float(batch),
        "line_items": float(lines),
        "entries_classified_priced_persisted_per_s": round(n / (applied_at - t0)),
        "entries_including_relay_per_s": round(n / (relayed_at - t0)),
        # CPU of the service instance(s) (consumer, relay; and the bench's polling)
        # per applied entry: less sensitive to other load on the machine than rates
        "service_cpu_us_per_entry": round((cpu_s + others_cpu_s) / n * 1e6, 1),
        "postgres_cpu_us_per_entry": round(infra_s.get("postgres", 0.0) / n * 1e6, 1),
        "kafka_cpu_us_per_entry": round(infra_s.get("java", 0.0) / n * 1e6, 1),
        "invoice_run_customers": float(len(outcomes)),
        "invoices_issued": float(issued),
        "invoice_run_s": round(run_s, 3),
        "invoices_relayed_after_run_s": round(invoices_relayed_s, 3),
    }
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--profile", help="write a cProfile of the consumer phase here (slows it down)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.entries, args.batch, args.profile))
