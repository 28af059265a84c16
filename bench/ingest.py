"""Benchmark of the ingest HTTP path: sustained events/s and latency for single-event
posts (many concurrent keep-alive clients), for batches of 500 and for Alertmanager
webhooks of 100 new alerts each (`alertmanager_100_alerts_per_s`, bodies shaped as
Alertmanager sends them), against the raw aiokafka producer sending the same records
(the ceiling), all in one run. Every case records its CPU split per component.

The service runs as it does in production: `python -m ingest` (uvicorn on uvloop +
httptools) in a subprocess, against the local broker and Postgres. The load generator
is a bare asyncio Protocol on uvloop in this process, sending pre-encoded HTTP/1.1
requests (httpx would cost more CPU than the server on a 2-core machine and measure
itself); its CPU share is reported. Every post must be answered 202 (authenticated,
validated, ids claimed in Postgres, acknowledged by Kafka), and at the end the
canonical topic must hold exactly one record per accepted event.

The single-post runs alternate credentials in one run on one service (`--repeat`
pairs, new ids each time, the order flipped every pair): an API key (a cached HMAC
lookup, the cheapest credential) and an OIDC RS256 access token from a local issuer
(JWKS cached, the token verified once until its `exp`). The median run of each is
reported, and `single_post_ratio_jwt_to_apikey` is the median of the pairs' throughput
ratios: interleaving makes the shared machine's noise fall on both sides alike.

Run: `make bench-ingest`. Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import (
    CpuMeter,
    LocalIssuer,
    infrastructure,
    listener_pid,
    machine,
    port_of,
    server_version,
    write_results,
)
from ingest.consumers import RAW_TOPICS
from msp_access.settings import DEV_METRICS_TOKEN
from msp_devstack.access import new_key
from msp_events import Envelope, encode
from msp_events.serde import to_json_obj
from msp_events.topics import CHANGE_ORDERS, CONTRACTS, DEAD_LETTER, MONITORING, TICKETS
from msp_events.types.monitoring import AlertFiring
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from msp_simulator.alerts import webhook
from msp_simulator.load import customer_ids, heartbeats
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.world import build_world

PEPPER = "bench-pepper"
IDLE_S = 3.0


def make_events(n: int, run: str) -> list[Envelope]:
    # The simulator's generator (the same world `make run` plays): agent check-ins
    # round-robin over its 30 customers' devices.
    return heartbeats(n=n, run=run)


ALERTNAMES = (
    ("NodeFilesystemAlmostOutOfSpace", "disk_space", "critical"),
    ("NodeDown", "device_offline", "critical"),
    ("HighCpuLoad", "cpu", "warning"),
    ("BackupJobFailed", "backup_failure", "major"),
)


def alertmanager_webhooks(n: int, per_request: int, run: str) -> list[bytes]:
    """`n` new firing alerts as Alertmanager webhooks of `per_request` alerts each (one
    group per customer, round-robin), shaped exactly as Alertmanager 0.25+ posts them
    (`version` "4", `groupKey`, `alerts[]` with labels, annotations, `startsAt`, the
    zero `endsAt`, `generatorURL`, a 16-hex `fingerprint`; the simulator's renderer).
    Every alert is new (`run` is in its fingerprint), so each is claimed and published."""
    world = build_world(seed=1, month=DEFAULT_MONTH, customers=30)
    base = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    bodies = []
    for r in range(-(-n // per_request)):
        c = world.customers[r % len(world.customers)]
        alerts = []
        for i in range(min(per_request, n - r * per_request)):
            device = c.devices[i % len(c.devices)]
            check, kind, severity = ALERTNAMES[(i // len(c.devices)) % len(ALERTNAMES)]
            fingerprint = hashlib.sha1(f"{run}/{r}/{i}".encode()).hexdigest()[:16]
            alert = AlertFiring(
                source_system="alertmanager",
                source_fingerprint=fingerprint,
                device_id=device.device_id,
                site_id=device.site_id,
                check=check,
                check_kind=kind,
                severity=severity,
                summary=f"{check} on {device.device_id}",
                labels={"job": "node", "prometheus": "monitoring/k8s"},
                annotations={
                    "description": f"{check} has been active on {device.device_id} for 5m.",
                    "runbook_url": f"https://runbooks.msp.example/{kind}",
                },
                starts_at=base + timedelta(milliseconds=r * per_request + i),
                generator_url=f"http://prometheus.{c.customer_id}.internal:9090/graph?g0.expr=up",
            )
            alerts.append(alert)
        bodies.append(json.dumps(webhook(c.customer_id, f"bench-{run}-{r}", alerts)).encode())
    return bodies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, requests one at a time, pre-encoded request
    bytes in, status code out. A bare asyncio Protocol: the load generator shares the
    two cores with the server, the broker and Postgres, so it must cost little per
    request (httpx costs more than the server does, asyncio streams about half)."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's isn't a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(RuntimeError(f"response without content-length: {head!r}"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(int(head[9:12]))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fail(exc or ConnectionError("server closed the connection"))

    async def post(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def requests(
    bodies: list[bytes], credential: str, content_type: str, path: str = "/v1/events"
) -> list[bytes]:
    """Whole HTTP requests, encoded before the clock starts."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Authorization: Bearer {credential}\r\n"
    ).encode()
    return [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]


async def load(port: int, reqs: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Send every request (`concurrency` connections, each keeps one request in
    flight); every answer must be 202. Returns (seconds, latencies)."""
    loop = asyncio.get_running_loop()
    queue = list(reversed(reqs))
    latencies: list[float] = []
    conns = [
        (await loop.create_connection(Connection, "127.0.0.1", port))[1] for _ in range(concurrency)
    ]

    async def client(conn: Connection) -> None:
        clock = time.perf_counter
        while queue:
            request = queue.pop()
            started = clock()
            status = await conn.post(request)
            latencies.append(clock() - started)
            if status != 202:
                raise RuntimeError(f"HTTP {status}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in conns))
        return time.perf_counter() - started, latencies
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()


async def end_offsets(kafka: str, topic: str) -> int:
    """Records on the canonical topic (all partitions): what the posts published."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        consumer._client.add_topic(topic)  # the consumer only tracks topics it was told of
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic) or set()
        if not found:
            raise RuntimeError(f"no partitions for {topic}")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def raw_produce(kafka: str, topic: str, events: list[Envelope]) -> float:
    records = [encode(e) for e in events]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, records[0].value, key=records[0].key)  # warm
        started = time.perf_counter()
        futures = [await producer.send(topic, r.value, key=r.key) for r in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_service(
    kafka: str,
    db: str,
    schema: str,
    namespace: str,
    log: Path,
    profile: str | None,
    workers: int,
    extra_env: dict[str, str],
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {
        **os.environ,
        **extra_env,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": db,
        "MSP_DB_SCHEMA": schema,
        "MSP_TOPIC_NAMESPACE": namespace,
        "MSP_HTTP_PORT": str(port),
        "MSP_API_KEY_PEPPER": PEPPER,
        "MSP_LOG_LEVEL": "WARNING",
        "MSP_RATE_LIMIT_EVENTS_PER_S": "1000000000",
        "MSP_RATE_LIMIT_BURST": "1000000",
        "MSP_DB_POOL_MAX": "20",
        "MSP_HTTP_WORKERS": str(workers),
    }
    with log.open("ab") as sink:
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *profiler, "-m", "ingest", env=env, stdout=sink, stderr=sink
        )
    deadline = time.monotonic() + 90
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = (await reader.read()).split(b" ", 2)[1]
            writer.close()
            if status == b"200":
                return proc, port
        except OSError:
            pass
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ingest did not become ready (log: {log})")
        await asyncio.sleep(0.2)


async def start_py_spy(pid: int, out: str) -> asyncio.subprocess.Process:
    """py-spy sampling `pid` and its worker processes (CPU samples only, not idle)."""
    return await asyncio.create_subprocess_exec(
        os.environ.get("PY_SPY", "py-spy"),
        *("record", "--pid", str(pid), "--subprocesses", "--rate", "200"),
        *("--format", "raw", "--output", out, "--nonblocking"),
        stdout=asyncio.subprocess.DEVNULL,
    )


HISTOGRAMS = (
    "msp_ingest_request_seconds",
    "msp_ingest_produce_seconds",
    "msp_ingest_claim_seconds",
    "msp_ingest_claim_group_requests",
)


async def scrape(port: int) -> dict[str, float]:
    """The service's own view: mean request and produce time (from /metrics)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {DEV_METRICS_TOKEN}\r\n\r\n".encode()
    )
    text = (await reader.read()).decode()
    writer.close()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        for name in HISTOGRAMS:
            for part in ("_sum", "_count"):
                if line.startswith(name + part):
                    key = name
                    if 'phase="' in line:  # msp_ingest_claim_seconds: claim, commit
                        key += "_" + line.split('phase="', 1)[1].split('"', 1)[0]
                    key += part
                    sums[key] = sums.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


async def main(
    single_n: int,
    repeat: int,
    batches: int,
    batch_size: int,
    concurrency: int,
    profile: str | None,
    workers: int,
    am_alerts: int,
    am_per_request: int,
    am_concurrency: int,
    py_spy: str | None,
) -> None:
    with infrastructure() as infra, LocalIssuer() as issuer:
        namespace = f"b_{uuid.uuid4().hex[:6]}_"
        schema = namespace.strip("_")
        topics = [MONITORING, TICKETS, CONTRACTS, CHANGE_ORDERS, DEAD_LETTER, *RAW_TOPICS]
        await ensure_topics(infra.kafka, topics, namespace=namespace)
        await migrate(infra.database_url, schema=schema, package="ingest")
        key = await new_key(
            infra.database_url,
            namespace=namespace,
            roles=["publisher"],
            customers=customer_ids(),
            source="bench",
            pepper=PEPPER,
        )
        # The same tenancy as the key: a publisher for the simulator's customers.
        token = issuer.token(roles=["publisher"], customers=customer_ids(), lifetime_s=7200)
        credentials = {"apikey": key, "jwt": token}

        def single_requests(events: list[Envelope], credential: str) -> list[bytes]:
            bodies = [json.dumps(to_json_obj(e)).encode() for e in events]
            return requests(bodies, credential, "application/cloudevents+json")

        # Every run posts new ids (a re-post would be answered without publishing).
        # Pairs alternate which credential goes first, so a drift on the machine
        # (another job starting, the broker's JIT) does not favour one side.
        order = [
            kind
            for r in range(repeat)
            for kind in (("apikey", "jwt") if r % 2 == 0 else ("jwt", "apikey"))
        ]
        single_runs = [
            (kind, single_requests(make_events(single_n, f"single{i}"), credentials[kind]))
            for i, kind in enumerate(order)
        ]
        batched = make_events(batches * batch_size, "batch")
        batch_reqs = requests(
            [
                json.dumps([to_json_obj(e) for e in batched[i : i + batch_size]]).encode()
                for i in range(0, len(batched), batch_size)
            ],
            key,
            "application/cloudevents-batch+json",
        )
        am_path = "/v1/integrations/alertmanager"
        am_reqs = requests(
            alertmanager_webhooks(am_alerts, am_per_request, "am"), key, "application/json", am_path
        )
        warm = single_requests(make_events(500, "warm"), key)
        warm += single_requests(make_events(500, "warm-jwt"), token)
        canonical = MONITORING.named(namespace)
        published_before = await end_offsets(infra.kafka, canonical)

        with tempfile.TemporaryDirectory(prefix="msp-bench-ingest-") as tmp:
            log = Path(tmp) / "ingest.log"
            proc, port = await start_service(
                infra.kafka,
                infra.database_url,
                schema,
                namespace,
                log,
                profile,
                workers,
                issuer.settings_env(),
            )
            spy = await start_py_spy(proc.pid, py_spy) if py_spy else None
            meter = CpuMeter(
                proc.pid,
                listener_pid(port_of(infra.kafka)),
                listener_pid(port_of(infra.database_url)),
            )
            runs: dict[str, list[tuple[float, list[float], dict[str, float]]]] = {
                "apikey": [],
                "jwt": [],
            }
            try:
                await load(port, warm, concurrency)
                idle_before = meter.sample()  # the stack's baseline with no posts
                await asyncio.sleep(IDLE_S)
                idle = meter.seconds(idle_before, meter.sample())
                for kind, reqs in single_runs:
                    cpu_before = meter.sample()
                    secs, lat = await load(port, reqs, concurrency)
                    runs[kind].append((secs, lat, meter.seconds(cpu_before, meter.sample())))
                    print(f"single posts, {kind}: {single_n / secs:.0f} events/s", flush=True)
                # The service's own view, from one worker's /metrics (with several
                # workers each scrape may reach another one): means since start, over
                # all single posts (the batch phase has not run yet).
                means = _means({}, await scrape(port))
                cpu_before = meter.sample()
                batch_s, batch_lat = await load(port, batch_reqs, 4)
                batch_cpu = meter.seconds(cpu_before, meter.sample())
                warm_am = alertmanager_webhooks(10 * am_per_request, am_per_request, "am-warm")
                await load(port, requests(warm_am, key, "application/json", am_path), 2)
                cpu_before = meter.sample()
                am_s, am_lat = await load(port, am_reqs, am_concurrency)
                am_cpu = meter.seconds(cpu_before, meter.sample())
                print(f"alertmanager: {am_alerts / am_s:.0f} alerts/s", flush=True)
            except Exception:
                print(log.read_text()[-4000:], file=sys.stderr)  # the service's side
                raise
            finally:
                if spy is not None:  # writes its collapsed stacks on SIGINT
                    spy.send_signal(signal.SIGINT)
                    await asyncio.wait_for(spy.wait(), 60)
                proc.send_signal(signal.SIGINT)  # lets cProfile write its file
                await asyncio.wait_for(proc.wait(), 60)
        published = await end_offsets(infra.kafka, canonical) - published_before
        expected = len(warm) + single_n * len(order) + len(batched)
        expected += am_alerts + 10 * am_per_request  # monitoring events, one per alert
        # The ceiling, measured last: on a broker as warm (JIT) as the service had it.
        raw_rate = await raw_produce(
            infra.kafka, canonical, make_events(batches * batch_size, "raw")
        )

        # Pair i: the i-th run of each credential (adjacent in time).
        pair_ratios = [
            a[0] / j[0] for a, j in zip(runs["apikey"], runs["jwt"], strict=True)
        ]  # seconds(apikey) / seconds(jwt) = rate(jwt) / rate(apikey)
        medians = {}
        for kind, kind_runs in runs.items():
            kind_runs.sort(key=lambda r: r[0])
            medians[kind] = kind_runs[len(kind_runs) // 2]
        secs, single_lat, cpu = medians["apikey"]  # the median API key run
        jwt_secs, jwt_lat, jwt_cpu = medians["jwt"]
        single_rate = single_n / secs
        batch_rate = len(batched) / batch_s
        metrics = {
            "single_events": float(single_n),
            "single_runs": float(repeat),
            "single_concurrency_clients": float(concurrency),
            "service_worker_processes": float(workers),
            "single_events_per_s": round(single_rate),
            "single_events_per_s_min": round(single_n / runs["apikey"][-1][0]),
            "single_events_per_s_max": round(single_n / runs["apikey"][0][0]),
            "single_latency_p50_s": round(statistics.median(single_lat), 5),
            "single_latency_p99_s": round(percentile(single_lat, 0.99), 5),
            "single_jwt_events_per_s": round(single_n / jwt_secs),
            "single_jwt_events_per_s_min": round(single_n / runs["jwt"][-1][0]),
            "single_jwt_events_per_s_max": round(single_n / runs["jwt"][0][0]),
            "single_jwt_latency_p50_s": round(statistics.median(jwt_lat), 5),
            "single_jwt_latency_p99_s": round(percentile(jwt_lat, 0.99), 5),
            "single_jwt_service_cpu_us_per_event": round(jwt_cpu["service"] / single_n * 1e6),
            "single_post_ratio_jwt_to_apikey": round(statistics.median(pair_ratios), 3),
            "single_post_ratio_jwt_to_apikey_min": round(min(pair_ratios), 3),
            "single_post_ratio_jwt_to_apikey_max": round(max(pair_ratios), 3),
            "single_post_ratio_jwt_to_apikey_of_medians": round(jwt_secs and secs / jwt_secs, 3),
            "single_server_handler_mean_s": round(means["msp_ingest_request_seconds"], 5),
            "single_server_claim_wait_mean_s": round(means["msp_ingest_claim_seconds_claim"], 5),
            "single_server_produce_mean_s": round(means["msp_ingest_produce_seconds"], 5),
            "single_server_commit_wait_mean_s": round(means["msp_ingest_claim_seconds_commit"], 5),
            # requests per claim group (one INSERT, one produce hand-off, one UPDATE)
            "single_claim_group_requests_mean": round(means["msp_ingest_claim_group_requests"], 1),
            **{f"single_{k}_cpu_cores": round(v / secs, 2) for k, v in cpu.items()},
            **{f"single_{k}_cpu_us_per_event": round(v / single_n * 1e6) for k, v in cpu.items()},
            **{
                f"idle_{k}_cpu_cores": round(idle[k] / IDLE_S, 3)
                for k in ("service", "kafka", "postgres")
            },
            "batch_size_events": float(batch_size),
            "batch_events": float(len(batched)),
            "batch_events_per_s": round(batch_rate),
            "batch_latency_p50_s": round(statistics.median(batch_lat), 5),
            "batch_latency_p99_s": round(percentile(batch_lat, 0.99), 5),
            **{
                f"batch_{k}_cpu_us_per_event": round(v / len(batched) * 1e6)
                for k, v in batch_cpu.items()
            },
            "alertmanager_alerts_per_request": float(am_per_request),
            "alertmanager_alerts": float(am_alerts),
            "alertmanager_concurrency_clients": float(am_concurrency),
            f"alertmanager_{am_per_request}_alerts_per_s": round(am_alerts / am_s),
            "alertmanager_latency_p50_s": round(statistics.median(am_lat), 5),
            "alertmanager_latency_p99_s": round(percentile(am_lat, 0.99), 5),
            **{
                f"alertmanager_{k}_cpu_us_per_alert": round(v / am_alerts * 1e6)
                for k, v in am_cpu.items()
            },
            "raw_producer_events_per_s": round(raw_rate),
            "ratio_to_raw_producer": round(batch_rate / raw_rate, 3),
            "single_ratio_to_raw_producer": round(single_rate / raw_rate, 3),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(metrics, indent=2))
        if published != expected:  # every 202 must be one record downstream, no more
            raise RuntimeError(f"{published} records published for {expected} accepted events")
        facts = machine(infra, await server_version(infra.database_url))
        path = write_results("ingest", facts, metrics)
        print(f"wrote {path}")


def _means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean seconds per observation between two scrapes, per histogram."""
    out = {}
    names = [n for n in HISTOGRAMS if n != "msp_ingest_claim_seconds"]
    names += ["msp_ingest_claim_seconds_claim", "msp_ingest_claim_seconds_commit"]
    for name in names:
        count = after.get(name + "_count", 0.0) - before.get(name + "_count", 0.0)
        total = after.get(name + "_sum", 0.0) - before.get(name + "_sum", 0.0)
        out[name] = total / max(count, 1.0)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=10_000, help="single-event posts per run")
    parser.add_argument(
        "--repeat", type=int, default=5, help="single-post run pairs (API key, token)"
    )
    parser.add_argument("--batches", type=int, default=100, help="batch posts")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64, help="single-post clients")
    parser.add_argument("--workers", type=int, default=2, help="MSP_HTTP_WORKERS")
    parser.add_argument("--alertmanager-alerts", type=int, default=50_000)
    parser.add_argument("--alertmanager-per-request", type=int, default=100)
    parser.add_argument(
        "--alertmanager-concurrency", type=int, default=8, help="Alertmanager webhook clients"
    )
    parser.add_argument(
        "--py-spy",
        help="sample the service and its workers with py-spy (the `py-spy` on PATH, e.g. "
        "`uv tool run py-spy`), collapsed stacks to this file (the CPU split then "
        "includes py-spy's own)",
    )
    parser.add_argument("--profile", help="run the service under cProfile, stats to this file")
    args = parser.parse_args()
    uvloop.run(  # the service runs on uvloop too (uvicorn[standard])
        main(
            args.single,
            args.repeat,
            args.batches,
            args.batch_size,
            args.concurrency,
            args.profile,
            args.workers,
            args.alertmanager_alerts,
            args.alertmanager_per_request,
            args.alertmanager_concurrency,
            args.py_spy,
        )
    )
