"""Benchmark of the incidents service: monitoring events/s triaged (the triage consumer
with its state, offsets, outbox and triage log in one Postgres transaction per batch;
the projection consumer and the outbox relay in the same process), against the raw
aiokafka consume rate of the same topic (the ceiling), the noise reduction (alerts per
incident) on a synthetic storm, and what two instances of the service do.

The service runs as it does in production: `python -m incidents` in a subprocess (one
or two of them, same consumer group, on the 6 partitions), against the local broker and
Postgres; progress is read from the offsets it stores with its state. Per run the CPU
seconds of each component (service, Kafka, Postgres, this process) are measured from
the first triaged batch to the last (`bench.common.CpuMeter`), so the figure per event
holds on a shared machine where wall-clock rates do not.

Loads, from the simulator's world (`msp_simulator.load`, the world `make run` plays), on
its first `--customers` monitored customers with their contracts:
- storm: per customer, a storm of `--storm` device-offline alerts from its biggest site,
  repeats of every one of them, `--singles` isolated device alerts spread out in time
  (each its own incident) with agent check-ins, then the site's resolves. Mostly dedup
  and correlation.
- new: per customer, `--new` alerts each on a device of its own (no site): every one
  opens an incident and a proactive ticket (the end-to-end bench's new alerts).
Runs: storm with one instance, new with one instance, storm with two instances
(`scale_out_efficiency` = 2-instance events/s / (2 x 1-instance events/s)).

Run: `make bench-incidents`. Writes bench/results/incidents.json. `--profile DIR`
runs the one-instance services under cProfile in process CPU time
(DIR/incidents-<load>.prof; their figures are then the profiled ones).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

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
from msp_devstack.testkit import service_env
from msp_events import Envelope, derive_event_id, encode, make_event
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, MONITORING, TICKETS
from msp_events.types.monitoring import AlertFiring
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.load import STORM_DAY, monitored_customers, site_storms, world_contracts
from msp_simulator.world import Customer

PROFILED = """
import cProfile, runpy, time
profile = cProfile.Profile(time.process_time)  # CPU time: a busy machine inflates no call
try:
    profile.runcall(runpy.run_module, "incidents", run_name="__main__")
finally:
    profile.dump_stats({path!r})
"""
"""`python -m incidents` under cProfile, timed in process CPU time."""


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


def new_alerts(customers: list[Customer], *, per_customer: int, run: str) -> list[Envelope]:
    """Per customer, `per_customer` critical device-offline alerts 0.5 s apart from
    10:00 local on the storm day, each on a device of its own with no site: nothing to
    deduplicate or correlate, every alert opens an incident and a proactive ticket."""
    events: list[Envelope] = []
    for c in customers:
        start = c.local(STORM_DAY, 10)
        for i in range(per_customer):
            at = start + timedelta(seconds=i * 0.5)
            device = f"{c.customer_id}-new-{i:05d}"
            alert = AlertFiring(
                source_system="alertmanager",
                source_fingerprint=f"{device}:DeviceUnreachable",
                device_id=device,
                check="DeviceUnreachable",
                check_kind="device_offline",
                severity="critical",
                summary=f"{device} is not answering (ICMP, agent)",
                starts_at=at,
            )
            events.append(
                make_event(
                    alert,
                    customer_id=c.customer_id,
                    source="/sim/alertmanager",
                    time=at,
                    subject=device,
                    id=derive_event_id("msp-simulator", "1", "bench-new", run, str(len(events))),
                )
            )
    return events


@dataclass
class Run:
    events_per_s: float
    cpu: dict[str, float]  # CPU seconds per component from the first batch to the last
    triaged: int  # events triaged in that span
    incidents: int
    in_incidents: int  # alerts that opened or joined an incident
    publish_cpu_s: float  # this process publishing the load (the load generator)


async def triage_run(
    infra: Infra,
    customers: list[Customer],
    events: list[Envelope],
    *,
    instances: int,
    logs: Path,
    profile: Path | None = None,
) -> Run:
    """A fresh namespace and schema: publish the contracts and `events`, start
    `instances` services (same group), time them until every event is triaged."""
    ns = f"b_{uuid.uuid4().hex[:6]}_"
    schema = ns.strip("_")
    await ensure_topics(
        infra.kafka, [MONITORING, CONTRACTS, TICKETS, INCIDENTS, DEAD_LETTER], namespace=ns
    )
    await migrate(infra.database_url, schema=schema, package="incidents")
    await publish(infra.kafka, CONTRACTS.named(ns), world_contracts(customers))
    procs = []
    for i in range(instances):
        env = service_env(
            kafka=infra.kafka,
            database_url=infra.database_url,
            schema=schema,
            namespace=ns,
            MSP_WALL_CLOCK_TICK_S="0",
            MSP_LOG_LEVEL="WARNING",
            MSP_EVENT_LOG_LEVEL="WARNING",
        )
        prof = ["-c", PROFILED.format(path=str(profile))] if profile else ["-m", "incidents"]
        with (logs / f"{ns}{i}.log").open("ab") as sink:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, *prof, env=env, stdout=sink, stderr=sink
                )
            )
    # one meter per instance: their service parts add up, the rest is counted once
    meters = [
        CpuMeter(
            p.pid, listener_pid(port_of(infra.kafka)), listener_pid(port_of(infra.database_url))
        )
        for p in procs
    ]
    db = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    query = """SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets
               WHERE group_id = $1 AND topic = $2"""
    group, topic = f"{ns}incidents.triage", MONITORING.named(ns)
    try:
        deadline = time.monotonic() + 600  # bounded: a stuck run fails, never hangs
        # the contracts first (every instance in the group by then), then the load: no
        # alert waits for its contract, no rebalance is timed
        while await db.fetchval(query, group, CONTRACTS.named(ns)) < len(customers):
            for p in procs:
                assert p.returncode is None, f"incidents exited: see {logs}"
            assert time.monotonic() < deadline, "the contracts were not triaged"
            await asyncio.sleep(0.05)
        if instances > 1:
            await settled(infra.kafka, group, instances, deadline)
        cpu0 = time.process_time()
        await publish(infra.kafka, MONITORING.named(ns), events)
        publish_cpu = time.process_time() - cpu0
        first: tuple[float, int, list[list[float]]] | None = None
        while (done_now := int(await db.fetchval(query, group, topic))) < len(events):
            if first is None and done_now:
                first = (time.perf_counter(), done_now, [m.sample() for m in meters])
            for p in procs:
                assert p.returncode is None, f"incidents exited: see {logs}"
            assert time.monotonic() < deadline, f"only {done_now}/{len(events)} triaged"
            await asyncio.sleep(0.05)
        done, after = time.perf_counter(), [m.sample() for m in meters]
        assert first is not None, "the whole load was triaged in one batch: use a bigger load"
        t0, n0, before = first
        outcomes = await db.fetchrow(
            """SELECT count(*) FILTER (WHERE outcome = 'opened') AS incidents,
                      count(*) FILTER (WHERE outcome IN ('opened', 'correlated')) AS joined
               FROM triage_log"""
        )
    finally:
        await db.close()
        for p in procs:
            p.send_signal(signal.SIGINT)  # lets cProfile write its file
        for p in procs:
            await asyncio.wait_for(p.wait(), 60)
    return Run(
        events_per_s=(len(events) - n0) / (done - t0),
        cpu=cpu_seconds(before, after),
        triaged=len(events) - n0,
        incidents=int(outcomes["incidents"]),
        in_incidents=int(outcomes["joined"]),
        publish_cpu_s=publish_cpu,
    )


async def settled(kafka: str, group: str, members: int, deadline: float) -> None:
    """Wait until the group has `members` members with partitions assigned (stable)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        while True:
            described = await admin.describe_consumer_groups([group])
            group_info = described[0].groups[0] if described else None
            if (
                group_info is not None
                and group_info[2] == "Stable"
                and len(group_info[5]) == members
            ):
                return
            assert time.monotonic() < deadline, f"group {group} not stable with {members}"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def cpu_seconds(before: list[list[float]], after: list[list[float]]) -> dict[str, float]:
    """CPU seconds per component over the run, the instances' service parts summed."""
    spent = [CpuMeter.seconds(b, a) for b, a in zip(before, after, strict=True)]
    return {**spent[0], "service": sum(s["service"] for s in spent)}


def cpu_metrics(name: str, run: Run) -> dict[str, float]:
    """Per component: CPU microseconds per triaged event, and cores in use."""
    seconds = run.triaged / run.events_per_s
    return {
        **{
            f"{name}_{k}_cpu_us_per_event": round(v / run.triaged * 1e6) for k, v in run.cpu.items()
        },
        **{f"{name}_{k}_cpu_cores": round(v / seconds, 2) for k, v in run.cpu.items()},
    }


async def main(customers: int, storm: int, singles: int, new: int, profile: Path | None) -> None:
    with infrastructure() as infra, tempfile.TemporaryDirectory(prefix="bench-inc-") as tmp:
        logs = Path(tmp)
        world = monitored_customers(customers=customers)
        storm_events = site_storms(customers=world, storm=storm, singles=singles, run="bench")
        new_events = new_alerts(world, per_customer=new, run="bench")
        prof = (lambda load: profile / f"incidents-{load}.prof") if profile else (lambda _: None)
        one = await triage_run(
            infra, world, storm_events, instances=1, logs=logs, profile=prof("storm")
        )
        fresh = await triage_run(
            infra, world, new_events, instances=1, logs=logs, profile=prof("new")
        )
        two = await triage_run(infra, world, storm_events, instances=2, logs=logs)
        # the ceiling, on a topic of its own holding the same records
        ns = f"b_{uuid.uuid4().hex[:6]}_"
        await ensure_topics(infra.kafka, [MONITORING], namespace=ns)
        await publish(infra.kafka, MONITORING.named(ns), storm_events)
        consume_rate = await raw_consume(infra.kafka, MONITORING.named(ns), len(storm_events))
        facts = machine(infra, await server_version(infra.database_url))
        metrics = {
            "events": float(len(storm_events)),
            "customers": float(customers),
            "storm_alerts_per_site": float(storm),
            "raw_consume_events_per_s": round(consume_rate),
            "triaged_events_per_s": round(one.events_per_s),
            "ratio_to_raw_consume": round(one.events_per_s / consume_rate, 3),
            "alerts_per_incident": round(one.in_incidents / max(1, one.incidents), 2),
            "incidents_opened": float(one.incidents),
            **cpu_metrics("storm", one),
            "new_alerts_events": float(len(new_events)),
            "new_alerts_triaged_per_s": round(fresh.events_per_s),
            "new_alerts_incidents_opened": float(fresh.incidents),
            **cpu_metrics("new_alerts", fresh),
            "two_instances_triaged_events_per_s": round(two.events_per_s),
            "scale_out_efficiency": round(two.events_per_s / (2 * one.events_per_s), 2),
            **cpu_metrics("two_instances", two),
            "load_generator_publish_cpu_us_per_event": round(
                one.publish_cpu_s / len(storm_events) * 1e6
            ),
        }
        path = write_results("incidents", facts, metrics)
        print(path.read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--storm", type=int, default=200)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--new", type=int, default=400, help="new alerts per customer")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files here")
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.storm, args.singles, args.new, args.profile))
