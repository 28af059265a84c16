"""Benchmark of the billing service: time entries classified, priced and persisted
per second through its Kafka consumer (decode, dedupe, classify, price, line-item rows,
LineItemRecorded outbox rows, offsets — one Postgres transaction per batch — then the
relay), the monthly invoice run for 1,000 customers (seconds, one API call), and
monitoring events per second through the same consumer (billing reads every alert and
heartbeat for the devices seen per day: one `assets_seen` upsert per batch).

The entries (and the monitoring events) are a backlog produced while the service is
stopped (its contracts already consumed), so the rate is the service's catch-up
throughput. The service is `python -m billing` in a subprocess, so the CPU per entry
splits cleanly: the service (consumer and relay), Postgres, Kafka and the load
generator (this process: producing happens before the timed window, so it only polls).
The consumer part runs with one instance and again with two in the group (6
partitions): `scale_out_efficiency` = rate with two / (2 x rate with one).

Run: `make bench-billing`. Writes bench/results/billing.json. `--profile FILE` records
the one-instance service over the timed window with py-spy (collapsed stacks, when
py-spy is installed: it is not a dependency of the project).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench.common import Infra, infrastructure, machine, server_version, write_results
from billing import store
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
from msp_simulator.load import contract_snapshots, monitored_customers, site_storms, time_entries


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


class CpuSplit:
    """CPU seconds over a timed window per component: the service instances (`python`
    descendants of this process), Postgres (`postgres`), the broker (`java`) and the
    load generator (this process). 0 for external infrastructure."""

    def __init__(self) -> None:
        self.cpu0, self.children0 = _cpu_s(), _children_cpu_s()

    def per_event_us(self, n: int, prefix: str = "") -> dict[str, float]:
        load = _cpu_s() - self.cpu0
        spent = {k: v - self.children0.get(k, 0.0) for k, v in _children_cpu_s().items()}
        service = sum(v for k, v in spent.items() if k.startswith("python"))
        parts = {
            "service": service,
            "postgres": spent.get("postgres", 0.0),
            "kafka": spent.get("java", 0.0),
            "load_generator": load,
        }
        return {
            f"{prefix}{k}_cpu_us_per_{UNIT[prefix]}": round(v / n * 1e6, 1)
            for k, v in parts.items()
        }


UNIT = {"": "entry", "two_instances_": "entry", "monitoring_": "event"}


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
    """Instances of the service (`python -m billing`) in one consumer group."""
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
            # as the in-process runs before: the per-event log lines off (README)
            "MSP_EVENT_LOG_LEVEL": "WARNING",
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


def py_spy(pid: int, path: str) -> subprocess.Popen[bytes] | None:
    """py-spy recording `pid` until interrupted (None without py-spy)."""
    exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if exe is None:
        print("--profile: py-spy is not installed; no profile written", file=sys.stderr)
        return None
    args = ["record", "--pid", str(pid), "--format", "raw", "-r", "200", "--nonblocking"]
    return subprocess.Popen([exe, *args, "-o", path], stdout=subprocess.DEVNULL)


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


async def main(
    customers: int, entries: int, batch: int, profile: str | None, monitoring: int
) -> None:
    with infrastructure() as infra:
        metrics = await run(infra, customers, entries, batch, profile, instances=1)
        # The same backlog, fresh topics and schema, two instances in the group.
        two = await run(infra, customers, entries, batch, None, instances=2)
        metrics |= {k: v for k, v in two.items() if k.startswith("two_instances_")}
        metrics["scale_out_efficiency"] = round(
            two["two_instances_entries_classified_priced_persisted_per_s"]
            / (2 * metrics["entries_classified_priced_persisted_per_s"]),
            3,
        )
        metrics |= await run_monitoring(infra, monitoring, batch)
        path = write_results(
            "billing", machine(infra, await server_version(infra.database_url)), metrics
        )
        print(path.read_text())


async def prepare(infra: Infra) -> tuple[str, str]:
    """Fresh topics and a migrated schema: (namespace, schema)."""
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
    return namespace, schema


async def timed(
    conn: asyncpg.Connection,
    sql: str,
    total: int,
    deadline: float,
    *,
    prefix: str = "",
    profile: tuple[int, str] | None = None,
) -> tuple[dict[str, float], int, float, float]:
    """Wait until `sql` counts `total`, timed from a fifth of it on: steady state, past
    the one-off start (group join and rebalance, parsing every contract once per
    process). Returns the CPU split per item, the count at the start, the seconds and
    when the window started (`time.perf_counter`)."""
    while (first := await conn.fetchval(sql)) < total // 5:
        assert time.monotonic() < deadline, "nothing applied"
        await asyncio.sleep(0.02)
    spy = py_spy(*profile) if profile else None
    t0, split = time.perf_counter(), CpuSplit()
    done_at = await wait(conn, sql, total, deadline)
    cpu = split.per_event_us(total - first, prefix)
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
        spy.wait(timeout=60)
    return cpu, first, done_at - t0, t0


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
    namespace, schema = await prepare(infra)
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
    # backlog while the service is stopped.
    await runtime.start()
    try:
        await wait(conn, "SELECT count(*) FROM contracts", customers, deadline)
    finally:
        await runtime.stop()
    await produce(infra.kafka, TICKETS.named(namespace), tickets)
    procs = start_instances(instances, infra, schema, namespace, batch)
    prefix = "" if instances == 1 else "two_instances_"
    try:
        for i in range(len(procs)):
            await wait_ready(18900 + i, deadline)
        cpu, first, seconds, t0 = await timed(
            conn,
            "SELECT count(*) FROM entries",
            entries,
            deadline,
            prefix=prefix,
            profile=(procs[0].pid, profile) if profile else None,
        )
        unsent = "SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"
        relayed_at = await wait(conn, f"SELECT ({unsent})::int", 1, deadline)
        lines = await conn.fetchval("SELECT count(*) FROM line_items")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    n = entries - first
    metrics = {
        f"{prefix}entries_classified_priced_persisted_per_s": round(n / seconds),
        f"{prefix}entries_including_relay_per_s": round(n / (relayed_at - t0)),
        **cpu,
    }
    if instances > 1:
        await conn.close()
        return metrics
    await runtime.start()
    try:
        # The instance that consumed the entries has stopped: this process parses the
        # contracts once first, as a service that has been consuming has (the invoice
        # run is timed, not the first parse of 1,000 contract histories after a start).
        await store.load_contracts(conn)
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
        await runtime.stop()
        await conn.close()
    return {
        "entries": float(entries),
        "customers": float(customers),
        "batch_size_records": float(batch),
        "line_items": float(lines),
        **metrics,
        "invoice_run_customers": float(len(outcomes)),
        "invoices_issued": float(issued),
        "invoice_run_s": round(run_s, 3),
        "invoices_relayed_after_run_s": round(invoices_relayed_s, 3),
    }


async def run_monitoring(infra: Infra, customers: int, batch: int) -> dict[str, float]:
    """Monitoring events through billing: per monitored customer, a storm of 40
    device-offline alerts from one site, the source re-sending them, 20 other alerts
    each with an agent check-in, then the 40 resolutions (`site_storms`). Billing keeps
    only the devices seen per day from them."""
    namespace, schema = await prepare(infra)
    events = site_storms(
        customers=monitored_customers(customers=customers), storm=40, singles=20, run="bench"
    )
    topic = MONITORING.named(namespace)
    await produce(infra.kafka, topic, [(r.key, r.value) for r in map(encode, events)])
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    deadline = time.monotonic() + 600
    procs = start_instances(1, infra, schema, namespace, batch)
    consumed = (
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets "
        f"WHERE topic = '{topic}'"  # a fresh topic: offsets from 0
    )
    try:
        await wait_ready(18900, deadline)
        cpu, first, seconds, _ = await timed(
            conn, consumed, len(events), deadline, prefix="monitoring_"
        )
        rows = await conn.fetchval("SELECT count(*) FROM assets_seen")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        await conn.close()
    return {
        "monitoring_events": float(len(events)),
        "monitoring_events_per_s": round((len(events) - first) / seconds),
        **cpu,
        "monitoring_assets_seen_rows": float(rows),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--monitoring-customers",
        type=int,
        default=250,
        help="monitored customers of the monitoring case (140 events each)",
    )
    parser.add_argument(
        "--profile", help="write py-spy's collapsed stacks of the one-instance service here"
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.customers, args.entries, args.batch, args.profile, args.monitoring_customers)
    )
