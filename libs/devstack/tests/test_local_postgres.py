"""The session database, and LocalPostgres's life cycle and failure report."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import psutil
import pytest

from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import StartupError

pytestmark = pytest.mark.integration


async def test_session_database_accepts_asyncpg(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        version = await conn.fetchval("select version()")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL")


async def _query(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        if sql.lstrip().lower().startswith("select"):
            return await conn.fetchval(sql)
        return await conn.execute(sql)
    finally:
        await conn.close()


async def test_local_postgres_keeps_data_across_restarts_and_stops_cleanly(
    server_data_dir: Path,
) -> None:
    postgres = LocalPostgres(server_data_dir, durable=False).start()
    try:
        assert postgres.database_url.startswith("postgresql://postgres@127.0.0.1:")
        await _query(
            postgres.database_url, "create table kept (n int); insert into kept values (7)"
        )
        assert postgres.pid is not None
        server = psutil.Process(postgres.pid)
        processes = [server, *server.children(recursive=True)]
        assert len(processes) > 1  # postmaster + checkpointer, walwriter...
    finally:
        postgres.stop()
    assert not [p for p in processes if p.is_running()]

    with LocalPostgres(server_data_dir, durable=False) as again:  # no initdb the second time
        assert await _query(again.database_url, "select n from kept") == 7


def test_postgres_that_dies_on_start_reports_its_log(server_data_dir: Path) -> None:
    with LocalPostgres(server_data_dir, durable=False):
        pass
    (server_data_dir / "pgdata" / "PG_VERSION").write_text("9\n")
    with pytest.raises(StartupError, match=r"exited with code 1(.|\n)*incompatible"):
        LocalPostgres(server_data_dir, durable=False).start()
