"""Benchmark of the ingest HTTP path: sustained events/s and latency for single-event
posts (many concurrent clients) and for batches of 500, against the raw aiokafka
producer sending the same records (the ceiling), all in one run.

The service runs as it does in production: `python -m ingest` (uvicorn, one process)
in a subprocess, against the local broker and Postgres. The load generator is a small
keep-alive HTTP/1.1 client on raw asyncio streams in this process (httpx would cost
more CPU than the server on a 2-core machine and measure itself). Every post is a real
202: authenticated, validated, ids claimed in Postgres, acknowledged by Kafka.

Run: `make bench-ingest`. Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
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

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import infrastructure, machine, server_version, write_results
from ingest.apikeys import create_key
from ingest.consumers import RAW_TOPICS
from msp_events import Envelope, encode, make_event
from msp_events.serde import to_json_obj
from msp_events.topics import CHANGE_ORDERS, CONTRACTS, DEAD_LETTER, MONITORING, TICKETS
from msp_events.types.monitoring import Heartbeat
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate

PEPPER = "bench-pepper"


def make_events(n: int, run: str) -> list[Envelope]:
    base = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    return [
        make_event(
            Heartbeat(
                device_id=f"ws-{i % 5000}",
                site_id="site-london",
                agent="rmm-agent/5.9.1",
                interval_seconds=300,
                sent_at=base + timedelta(milliseconds=i),
            ),
            customer_id=f"cust-{i % 30}",
            source="/rmm",
            time=base + timedelta(milliseconds=i),
            subject=f"ws-{i % 5000}",
            id=f"{run}-{i}",
        )
        for i in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection:
    """One keep-alive HTTP/1.1 connection; requests go one at a time."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(
    port: int, key: str, bodies: list[bytes], content_type: str, concurrency: int
) -> tuple[float, list[float]]:
    """Post every body (`concurrency` connections); returns (seconds, latencies)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def client() -> None:
        conn = Connection("127.0.0.1", port, key)
        try:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                status = await conn.post("/v1/events", body, content_type)
                latencies.append(time.perf_counter() - started)
                if status != 202:
                    raise RuntimeError(f"HTTP {status}")
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


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
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = {
        **os.environ,
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


async def scrape(port: int) -> dict[str, float]:
    """The service's own view: mean request and produce time (from /metrics)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("msp_ingest_request_seconds", "msp_ingest_produce_seconds"):
            for part in ("_sum", "_count"):
                if line.startswith(name + part):
                    key = name + part
                    sums[key] = sums.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


async def main(
    single_n: int,
    batches: int,
    batch_size: int,
    concurrency: int,
    profile: str | None,
    workers: int,
) -> None:
    with infrastructure() as infra:
        namespace = f"b_{uuid.uuid4().hex[:6]}_"
        schema = namespace.strip("_")
        topics = [MONITORING, TICKETS, CONTRACTS, CHANGE_ORDERS, DEAD_LETTER, *RAW_TOPICS]
        await ensure_topics(infra.kafka, topics, namespace=namespace)
        await migrate(infra.database_url, schema=schema, package="ingest")
        conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
        _, key = await create_key(
            conn, pepper=PEPPER, source="bench", customer_ids=[f"cust-{i}" for i in range(30)]
        )
        await conn.close()

        single = make_events(single_n, "single")
        batched = make_events(batches * batch_size, "batch")
        raw_events = make_events(batches * batch_size, "raw")
        single_bodies = [json.dumps(to_json_obj(e)).encode() for e in single]
        batch_bodies = [
            json.dumps([to_json_obj(e) for e in batched[i : i + batch_size]]).encode()
            for i in range(0, len(batched), batch_size)
        ]
        raw_rate = await raw_produce(infra.kafka, MONITORING.named(namespace), raw_events)

        with tempfile.TemporaryDirectory(prefix="msp-bench-ingest-") as tmp:
            log = Path(tmp) / "ingest.log"
            proc, port = await start_service(
                infra.kafka, infra.database_url, schema, namespace, log, profile, workers
            )
            try:
                warm = [json.dumps(to_json_obj(e)).encode() for e in make_events(500, "warm")]
                await load(port, key, warm, "application/cloudevents+json", concurrency)
                before = await scrape(port)
                single_s, single_lat = await load(
                    port, key, single_bodies, "application/cloudevents+json", concurrency
                )
                after = await scrape(port)
                batch_s, batch_lat = await load(
                    port, key, batch_bodies, "application/cloudevents-batch+json", 4
                )
            finally:
                proc.send_signal(signal.SIGINT)  # lets cProfile write its file
                await asyncio.wait_for(proc.wait(), 60)

        def mean(name: str) -> float:
            count = after[name + "_count"] - before.get(name + "_count", 0.0)
            return (after[name + "_sum"] - before.get(name + "_sum", 0.0)) / max(count, 1.0)

        single_rate = single_n / single_s
        batch_rate = len(batched) / batch_s
        metrics = {
            "single_events": float(single_n),
            "single_concurrency_clients": float(concurrency),
            "service_worker_processes": float(workers),
            "single_events_per_s": round(single_rate),
            "single_latency_p50_s": round(statistics.median(single_lat), 5),
            "single_latency_p99_s": round(percentile(single_lat, 0.99), 5),
            "single_server_handler_mean_s": round(mean("msp_ingest_request_seconds"), 5),
            "single_server_produce_mean_s": round(mean("msp_ingest_produce_seconds"), 5),
            "batch_size_events": float(batch_size),
            "batch_events": float(len(batched)),
            "batch_events_per_s": round(batch_rate),
            "batch_latency_p50_s": round(statistics.median(batch_lat), 5),
            "batch_latency_p99_s": round(percentile(batch_lat, 0.99), 5),
            "raw_producer_events_per_s": round(raw_rate),
            "ratio_to_raw_producer": round(batch_rate / raw_rate, 3),
            "single_ratio_to_raw_producer": round(single_rate / raw_rate, 3),
        }
        facts = machine(infra, await server_version(infra.database_url))
        path = write_results("ingest", facts, metrics)
        print(json.dumps(metrics, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=20_000, help="single-event posts")
    parser.add_argument("--batches", type=int, default=100, help="batch posts")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64, help="single-post clients")
    parser.add_argument("--workers", type=int, default=2, help="MSP_HTTP_WORKERS")
    parser.add_argument("--profile", help="run the service under cProfile, stats to this file")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.single,
            args.batches,
            args.batch_size,
            args.concurrency,
            args.profile,
            args.workers,
        )
    )
