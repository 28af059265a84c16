"""Helpers to run billing in-process against the session's real broker and Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from billing.__main__ import build
from billing.settings import BillingSettings
from msp_devstack.access import operator_headers
from msp_devstack.testing import create_topics
from msp_devstack.testkit import read_topic
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

INPUTS = (CONTRACTS, CHANGE_ORDERS, TICKETS, MONITORING, DEAD_LETTER)
OUTPUTS = (BILLING_LINE_ITEMS, BILLING_INVOICES, FINANCE_ACCOUNTING)


def settings_for(
    kafka: str, database_url: str, namespace: str, schema: str, **kw: Any
) -> BillingSettings:
    return BillingSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=database_url,  # type: ignore[call-arg]
        db_schema=schema,
        topic_namespace=namespace,
        consumer_batch_size=200,
        **kw,
    )


_OPERATORS: dict[tuple[str, str], dict[str, str]] = {}


async def _operator(database_url: str, namespace: str) -> dict[str, str]:
    """One operator credential per namespace: runs of the same inputs by the same caller
    give byte-identical outputs (the events name their actor)."""
    if (database_url, namespace) not in _OPERATORS:
        _OPERATORS[database_url, namespace] = await operator_headers(
            database_url, namespace=namespace
        )
    return _OPERATORS[database_url, namespace]


@asynccontextmanager
async def running(settings: BillingSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The billing service in-process (consumer, relay, API), with an HTTP client."""
    app, runtime = build(settings)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=app)
        headers = await _operator(settings.database_url, settings.topic_namespace)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://billing", headers=headers
        ) as client:
            yield client
    finally:
        await runtime.stop()


async def setup_topics(kafka: str, namespace: str, *out_namespaces: str) -> None:
    await create_topics(kafka, INPUTS, namespace=namespace)
    for out in out_namespaces or (namespace,):
        await create_topics(kafka, OUTPUTS, namespace=out)


async def connect(database_url: str, schema: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        database_url, server_settings={"search_path": schema}
    )
    return conn


async def settled(conn: asyncpg.Connection, *, entries: int) -> bool:
    """All `entries` classified (none pending) and every output relayed."""
    recorded = await conn.fetchval("SELECT count(DISTINCT (customer_id, entry_id)) FROM line_items")
    unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    return bool(recorded == entries and unsent == 0)


async def events_on(kafka: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read_topic(kafka, topic)]
