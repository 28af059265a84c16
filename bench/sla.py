"""Benchmark of sla-clock: ticket events/s through its consumer, and breach-emission lag
while 100,000 clocks (50,000 tickets) run at once; then the same ticket load through two
instances (scale-out). Each instance is the real service as its own process
(`python -m sla_clock`: HTTP API, transactional consumer, deadline scheduler, outbox
relay; wall clock), so the CPU each part spends is measured apart.

Tickets and contracts come from the simulator's generator (`msp_simulator.load`: the
world `make run` plays, 60 customers, their contracts with one 24x7 P3 target and no
warnings; customer-reported tickets on their devices).

1. Throughput: the contracts are applied first (an instance runs until all are
   stored, then stops), so no ticket waits for its contract. Then 50,000
   `TicketCreated` (P3, 24x7 targets: 60 min response, 24 h resolution; opened over the
   last 50 minutes, so their deadlines are spread over the next 10 to 60 minutes) are
   produced, and the instance starts again. Timed from the first committed batch to the
   last: `ticket_events_per_s`. Each ticket makes two running clocks, their deadline
   rows and two clock-started events (relayed to Kafka meanwhile, by the same process:
   `relayed_events_per_s` until the outbox is empty). CPU time per ticket event over the
   same span, per part: the instance(s) (`service`), the broker, Postgres, the whole
   machine; the load generator's is that of producing the tickets.
2. Lag: with those 100,000 clocks running, `--late` more tickets are produced whose
   first-response deadlines fall `--lead` to `--lead` + `--spread` s later; nothing else
   is sent, so the scheduler alone fires each breach when due. Lag = Kafka timestamp of
   the breach record (set by the relay's producer) minus the deadline: p50/p99/max.
3. Scale-out: step 1 again on fresh topics and schema with two instances in the one
   consumer group (the 6 partitions split between them):
   `two_instances_ticket_events_per_s`, and `scale_out_efficiency` = that / (2 x the
   one instance's).

Run: `make bench-sla`. Writes bench/results/sla.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from statistics import quantiles
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import (
    CpuMeter,
    Infra,
    consumer_from_start,
    infrastructure,
    listener_pid,
    machine,
    port_of,
    server_version,
    write_results,
)
from msp_devstack.processes import free_port
from msp_devstack.testkit import service_env
from msp_events import Envelope, decode, encode
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, SLA, TICKETS
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.load import open_tickets, sla_policy, world_contracts
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.world import Customer, build_world
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


async def produce(kafka: str, topic: str, events: Sequence[Envelope]) -> None:
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


def tickets(prefix: str, n: int, first_due: datetime, spread_s: float) -> list[Envelope]:
    """`n` tickets (the simulator's generator) whose first-response deadlines spread
    evenly over `spread_s` seconds from `first_due`."""
    return open_tickets(
        customers=world(),
        n=n,
        first_due=first_due,
        spread_s=spread_s,
        response_minutes=RESPONSE_MIN,
        priority="P3",
        run=prefix,
    )


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


TIMEOUT_S = 900  # bounded: a stuck run fails, never hangs


@dataclass
class Stage:
    """One namespace (topics, consumer group) and schema, and its instances."""

    infra: Infra
    namespace: str
    schema: str
    consumers: int
    log: Path
    profile: str | None = None

    @property
    def topic(self) -> str:
        return TICKETS.named(self.namespace)

    async def prepare(self) -> None:
        await ensure_topics(
            self.infra.kafka,
            [TICKETS, CONTRACTS, INCIDENTS, SLA, DEAD_LETTER],
            namespace=self.namespace,
        )
        await migrate(self.infra.database_url, schema=self.schema, package="sla_clock")
        await produce(self.infra.kafka, CONTRACTS.named(self.namespace), contracts())

    async def start(self, count: int) -> list[asyncio.subprocess.Process]:
        env = service_env(
            kafka=self.infra.kafka,
            database_url=self.infra.database_url,
            schema=self.schema,
            namespace=self.namespace,
            MSP_CONSUMER_BATCH_SIZE="1000",
            MSP_CONSUMERS_PER_PROCESS=str(self.consumers),
            MSP_SCHEDULER_CLOCK="wall",
            MSP_LOG_LEVEL="WARNING",
            MSP_EVENT_LOG_LEVEL="WARNING",
        )
        procs = []
        for i in range(count):
            env["MSP_HTTP_PORT"] = str(free_port())
            profiler = ["-m", "cProfile", "-o", f"{self.profile}.{i}"] if self.profile else []
            with self.log.open("ab") as sink:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        *profiler,
                        "-m",
                        "sla_clock",
                        env=dict(env),
                        stdout=sink,
                        stderr=sink,
                    )
                )
        return procs


async def stop(procs: Sequence[asyncio.subprocess.Process], *, profiled: bool = False) -> None:
    """SIGTERM (a clean stop; SIGINT under cProfile, which then writes its file),
    SIGKILL after 60 s."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT if profiled else signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_for(conn: asyncpg.Connection, sql: str, n: int, procs: Sequence[Any]) -> None:
    limit = time.monotonic() + TIMEOUT_S
    while (done := await conn.fetchval(sql)) < n:
        assert time.monotonic() < limit, f"only {done}/{n}: {sql}"
        assert all(p.returncode is None for p in procs), "an instance ended"
        await asyncio.sleep(0.1)


async def throughput(
    stage: Stage, conn: asyncpg.Connection, n: int, instances: int
) -> tuple[dict[str, float], list[asyncio.subprocess.Process], float]:
    """Contracts applied first, `n` tickets produced, then `instances` instances consume
    them: events/s and CPU per event by part. Returns them, the instances (still
    running) and when the first batch was seen committed (`time.perf_counter`)."""
    await stage.prepare()
    first = await stage.start(1)
    try:
        await wait_for(conn, "SELECT count(*) FROM contracts", CUSTOMERS, first)
    finally:
        await stop(first)
    load = tickets("T", n, datetime.now(UTC) + timedelta(minutes=10), 50 * 60)
    generator = time.process_time()
    await produce(stage.infra.kafka, stage.topic, load)
    generator = time.process_time() - generator
    procs = await stage.start(instances)
    meters = [
        CpuMeter(
            p.pid,
            listener_pid(port_of(stage.infra.kafka)),
            listener_pid(port_of(stage.infra.database_url)),
        )
        for p in procs
    ]
    sql = "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE topic = $1"
    began = None
    limit = time.monotonic() + TIMEOUT_S
    while (done := await conn.fetchval(sql, stage.topic)) < n:
        if began is None and done:
            began = (time.perf_counter(), done, [m.sample() for m in meters])
        assert time.monotonic() < limit, f"only {done}/{n} consumed"
        assert all(p.returncode is None for p in procs), "an instance ended"
        await asyncio.sleep(0.05)
    ended = time.perf_counter()
    assert began is not None
    t0, n0, before = began
    spent = [CpuMeter.seconds(b, m.sample()) for b, m in zip(before, meters, strict=True)]
    events = n - n0
    cpu = {part: spent[0][part] for part in ("kafka", "postgres", "machine")}
    cpu["service"] = sum(s["service"] for s in spent)
    figures = {
        "ticket_events_per_s": events / (ended - t0),
        **{f"{part}_cpu_us_per_event": cpu[part] / events * 1e6 for part in cpu},
        "load_generator_cpu_us_per_event": generator / n * 1e6,
    }
    return figures, procs, t0


def stage(infra: Infra, consumers: int, log: Path, profile: str | None) -> Stage:
    namespace = f"b_{uuid.uuid4().hex[:6]}_"
    return Stage(infra, namespace, namespace.strip("_") + "_sla", consumers, log, profile)


async def connect(infra: Infra, schema: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": schema}
    )
    return conn


async def main(
    n: int,
    late: int,
    lead_s: float,
    spread_s: float,
    consumers: int,
    profile: str | None,
    scale_out: bool,
) -> None:
    log = Path(os.environ.get("MSP_BENCH_LOG", "/tmp/msp-bench-sla.log"))
    with infrastructure() as infra:
        one = stage(infra, consumers, log, profile)
        conn = await connect(infra, one.schema)
        procs: list[asyncio.subprocess.Process] = []
        try:
            single, procs, began = await throughput(one, conn, n, 1)
            unsent = "SELECT -count(*) FROM outbox WHERE sent_at IS NULL"  # up to 0
            await wait_for(conn, unsent, 0, procs)
            relayed = await conn.fetchval("SELECT count(*) FROM outbox")
            relayed_per_s = relayed / (time.perf_counter() - began)
            running = await conn.fetchval("SELECT count(*) FROM clocks WHERE state = 'running'")
            per_s = single["ticket_events_per_s"]
            print(f"{n} ticket events at {per_s:.0f}/s; {running} running clocks")
            first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
            await produce(infra.kafka, one.topic, tickets("L", late, first_due, spread_s))
            lags = await read_breach_lags(
                infra.kafka, SLA.named(one.namespace), late, lead_s + spread_s + 120
            )
        finally:
            await stop(procs, profiled=profile is not None)
            await conn.close()
        assert len(lags) == late, f"only {len(lags)}/{late} breaches emitted"
        double: dict[str, float] = {}
        if scale_out:
            two = stage(infra, consumers, log, None)
            conn = await connect(infra, two.schema)
            procs = []
            try:
                double, procs, _ = await throughput(two, conn, n, 2)
            finally:
                await stop(procs)
                await conn.close()
            print(f"two instances: {double['ticket_events_per_s']:.0f}/s")
        cuts = quantiles(lags, n=100)
        metrics = {
            "tickets": float(n),
            "consumers_per_process": float(consumers),
            "running_clocks": float(running),
            "ticket_events_per_s": round(single["ticket_events_per_s"]),
            "relayed_events_per_s": round(relayed_per_s),
            "breaches_measured": float(late),
            "breaches_due_per_s": round(late / spread_s),
            "breach_lag_p50_s": round(cuts[49], 3),
            "breach_lag_p99_s": round(cuts[98], 3),
            "breach_lag_max_s": round(max(lags), 3),
            **{k: round(v) for k, v in single.items() if k.endswith("_cpu_us_per_event")},
            **(
                {
                    "two_instances_ticket_events_per_s": round(double["ticket_events_per_s"]),
                    "scale_out_efficiency": round(
                        double["ticket_events_per_s"] / (2 * single["ticket_events_per_s"]), 2
                    ),
                    **{
                        f"two_instances_{k}": round(v)
                        for k, v in double.items()
                        if k.endswith("_cpu_us_per_event")
                    },
                }
                if double
                else {}
            ),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        path = write_results(
            "sla", machine(infra, await server_version(infra.database_url)), metrics
        )
        print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 50,000 tickets = the 100,000 running clocks (two per ticket); 10,000 breaches
    # due over 10 s = 1,000 breaches/s
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--late", type=int, default=10_000, help="tickets that breach")
    parser.add_argument("--lead", type=float, default=30.0, help="s until their 1st deadline")
    parser.add_argument("--spread", type=float, default=10.0, help="s over which they fall")
    parser.add_argument(
        "--consumers",
        type=int,
        default=SlaSettings.model_fields["consumers_per_process"].default,
        help="consumer group members per instance (default: the service's)",
    )
    parser.add_argument("--profile", help="cProfile the one-instance run's instance into PROFILE.0")
    parser.add_argument(
        "--scale-out",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the two-instance run (step 3)",
    )
    args = parser.parse_args()
    asyncio.run(
        main(
            args.tickets,
            args.late,
            args.lead,
            args.spread,
            args.consumers,
            args.profile,
            args.scale_out,
        )
    )
