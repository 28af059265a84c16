"""What every benchmark shares: infrastructure (the local broker and Postgres, or the
ones named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), machine facts, the results file."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Infra:
    kafka: str
    database_url: str
    kafka_version: str


@contextmanager
def infrastructure() -> Iterator[Infra]:
    from msp_devstack.kafka import KAFKA_VERSION, LocalKafka, fetch_kafka
    from msp_devstack.postgres import LocalPostgres

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="msp-bench-")))
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not kafka:
            fetch_kafka()
            kafka = stack.enter_context(LocalKafka(scratch / "kafka")).bootstrap_servers
        db = os.environ.get("DATABASE_URL")
        if not db:
            scratch.chmod(0o755)  # the non-root postgres user must reach its data dir
            db = stack.enter_context(LocalPostgres(scratch / "pg")).database_url
        yield Infra(kafka, db, KAFKA_VERSION)


async def server_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def machine(infra: Infra, postgres_version: str) -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka": infra.kafka_version,
        "postgres": postgres_version,
        "aiokafka": version("aiokafka"),
        "asyncpg": version("asyncpg"),
        "external_kafka": bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
        "external_postgres": bool(os.environ.get("DATABASE_URL")),
    }


def write_results(name: str, machine_facts: dict[str, object], metrics: dict[str, float]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_facts, "metrics": metrics}, indent=2) + "\n")
    return path


@asynccontextmanager
async def consumer_from_start(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A bare consumer with every partition of `topic` assigned and positioned at its
    first record: no group join, so nothing but reading is timed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts:  # the consumer only tracks topics it was told of
            consumer._client.add_topic(topic)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        yield consumer
    finally:
        await consumer.stop()
