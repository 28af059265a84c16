"""Fixtures: the ingest app in-process (httpx ASGI transport) on the REAL broker and
Postgres of the session, with its own schema and topics per test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

# Test modules import helpers as `ingest_testkit` / `ingest_payloads` (importlib import
# mode does not put test folders on sys.path; the names are unique in the workspace).
sys.path.insert(0, str(Path(__file__).parent))

from ingest_testkit import TOPICS, Ingest, make_settings

from ingest.runtime import IngestRuntime, serving_app
from msp_devstack.access import prepare_access
from msp_devstack.testing import create_topics
from msp_plumbing.migrations import migrate


@pytest.fixture
def schema(namespace: str) -> str:
    return namespace.strip("_").lower()


@pytest.fixture
async def prepared(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, schema=schema, package="ingest")
    await prepare_access(database_url, namespace=namespace)
    await create_topics(kafka_bootstrap, TOPICS, namespace)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    yield conn
    await conn.close()


@pytest.fixture
async def ingest(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    prepared: asyncpg.Connection,
) -> AsyncIterator[Ingest]:
    runtime = IngestRuntime(make_settings(kafka_bootstrap, database_url, namespace, schema))
    app = serving_app(runtime)  # what `python -m ingest` serves (with the fast path)
    await runtime.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        try:
            yield Ingest(client, runtime, prepared, kafka_bootstrap, namespace)
        finally:
            await runtime.stop()
