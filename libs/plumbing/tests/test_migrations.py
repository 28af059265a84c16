"""Migrations on real Postgres: applied once, idempotent, checksum-guarded."""

from __future__ import annotations

import asyncpg
import pytest

from msp_plumbing.migrations import Migration, check_schema_name, migrate, migrations_for

pytestmark = pytest.mark.integration


async def test_plumbing_tables_created_once(database_url: str, schema: str) -> None:
    first = await migrate(database_url, schema=schema)
    assert first == ["plumbing:0001_plumbing", "plumbing:0002_parked_records"]
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


def test_cli_names_the_bad_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from msp_plumbing.migrations import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--schema", "Bad-Name", "--database-url", "postgresql://x@127.0.0.1:1/x"])
    assert exit_info.value.code == 2
    assert "--schema: 'Bad-Name' is not a valid" in capsys.readouterr().err


def test_cli_reports_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    from msp_plumbing.migrations import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--schema", "billing", "--database-url", "postgresql://x@127.0.0.1:1/x"])
    assert exit_info.value.code == 1
    assert "migrations for schema billing failed" in capsys.readouterr().err
