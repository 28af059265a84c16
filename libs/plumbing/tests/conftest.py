"""Fixtures for the plumbing's integration tests: a migrated schema, topics, and
helpers to produce input and read output on the real broker."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

from msp_events import Envelope, make_event
from msp_events.topics import DEAD_LETTER, TICKETS, Topic
from msp_events.types.tickets import TicketCreated
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate

HERE = Path(__file__).parent
OUT = Topic("crash.out.v1", "crash test output", (), producers=(), consumers=())


@pytest.fixture
def worker_module() -> ModuleType:
    return load_worker()


def load_worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_worker", HERE / "crash_worker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def make_tickets() -> Callable[..., list[Envelope]]:
    return ticket_events


@pytest.fixture
def schema(namespace: str) -> str:
    return namespace.replace("-", "_").strip("_").lower()


@pytest.fixture
async def db(database_url: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, schema=schema)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    worker = load_worker()
    await conn.execute(worker.SEEN_DDL)
    yield conn
    await conn.close()


@pytest.fixture
async def topics(kafka_bootstrap: str, namespace: str) -> dict[str, str]:
    await ensure_topics(kafka_bootstrap, [TICKETS, DEAD_LETTER, OUT], namespace=namespace)
    return {
        "in": TICKETS.named(namespace),
        "dlq": DEAD_LETTER.named(namespace),
        "out": OUT.named(namespace),
    }


def ticket_events(n: int, *, prefix: str = "T") -> list[Envelope]:
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    events = []
    for i in range(n):
        data = TicketCreated(
            ticket_id=f"{prefix}{i}",
            title=f"printer {i} jammed",
            priority="P3",
            category="help_desk",
            source="phone",
            opened_at=base + timedelta(minutes=i),
        )
        events.append(
            make_event(
                data,
                customer_id=f"cust-{i % 7}",
                source="/psa",
                time=base + timedelta(minutes=i),
                subject=data.ticket_id,
                id=f"evt-{prefix}{i}",
            )
        )
    return events
