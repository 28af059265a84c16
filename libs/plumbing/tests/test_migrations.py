"""Migrations on real Postgres: applied once, idempotent, checksum-guarded."""

from __future__ import annotations

import asyncpg
import pytest

from msp_plumbing.migrations import Migration, check_schema_name, migrate, migrations_for

pytestmark = pytest.mark.integration


async def test_plumbing_tables_created_once(database_url: str, schema: str) -> None:
    first = await migrate(database_url, schema=schema)
    assert first == ["plumbing:0001_plumbing"]
    assert await migrate(database_url, schema=schema) == []
    conn = await asyncpg.connect(database_url)
    try:
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
    finally:
        await conn.close()
    assert {"consumer_offsets", "processed_events", "outbox", "schema_migrations"} <= tables


async def test_changed_migration_is_refused(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(database_url, schema=schema)
    original = migrations_for(None)
    edited = [Migration(m.source, m.version, m.name, m.sql + "\n-- edited") for m in original]
    monkeypatch.setattr("msp_plumbing.migrations.migrations_for", lambda _p: edited)
    with pytest.raises(RuntimeError, match="was changed after it was applied"):
        await migrate(database_url, schema=schema)


def test_schema_names_are_checked() -> None:
    assert check_schema_name("sla_clock") == "sla_clock"
    for bad in ("Billing", "x;drop", "", "a-b"):
        with pytest.raises(ValueError, match="schema"):
            check_schema_name(bad)
