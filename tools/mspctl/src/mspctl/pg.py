"""Postgres connections for the commands that work on service schemas directly."""

from __future__ import annotations

import asyncpg

from mspctl.settings import CtlSettings


async def connect(settings: CtlSettings, *, schema: str | None = None) -> asyncpg.Connection:
    server_settings = {"search_path": schema} if schema else {}
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            settings.database_url, server_settings=server_settings
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConnectionError(f"database {settings.database_url}: {exc}") from exc
    return conn


async def schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))
