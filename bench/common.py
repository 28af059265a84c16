"""What every benchmark shares: infrastructure (the local broker and Postgres, or the
ones named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), machine facts, the results file."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import asyncpg

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
