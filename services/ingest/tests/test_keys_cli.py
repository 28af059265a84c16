"""`python -m ingest.keys` against the real Postgres: create, list, revoke, and errors
that name the argument."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg
import pytest
from ingest_testkit import PEPPER

from ingest.apikeys import KeyCache

pytestmark = pytest.mark.integration


async def cli(database_url: str, schema: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "MSP_DB_SCHEMA": schema}
    env["MSP_API_KEY_PEPPER"] = PEPPER
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ingest.keys",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_create_list_revoke(
    database_url: str, schema: str, prepared: asyncpg.Connection
) -> None:
    rc, out, err = await cli(
        database_url,
        schema,
        "create",
        "--source",
        "alertmanager-prod",
        "--customer",
        "cust-a",
        "--customer",
        "cust-b",
        "--label-customer",
        "tenant",
    )
    assert rc == 0, err
    created = json.loads(out)
    assert created["customer_ids"] == ["cust-a", "cust-b"]
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert pool is not None
    try:
        cache = KeyCache(pool=pool, pepper=PEPPER, ttl_s=0)
        key = await cache.resolve(created["key"])
        assert key is not None and key.labels.customer == "tenant"
        assert await cache.resolve(created["key"] + "x") is None

        rc, out, _ = await cli(database_url, schema, "list")
        (listed,) = [json.loads(line) for line in out.splitlines()]
        assert listed["key_id"] == created["key_id"] and created["key"] not in out

        rc, out, _ = await cli(database_url, schema, "revoke", created["key_id"])
        assert rc == 0 and json.loads(out)["revoked"] is True
        assert await cache.resolve(created["key"]) is None
        rc, _, err = await cli(database_url, schema, "revoke", created["key_id"])
        assert rc == 1 and err.startswith("key_id:")
    finally:
        await pool.close()


async def test_bad_arguments_are_named(
    database_url: str, schema: str, prepared: asyncpg.Connection
) -> None:
    rc, _, err = await cli(database_url, schema, "create", "--source", "x")
    assert rc == 2 and "--customer" in err
    rc, _, err = await cli(database_url, schema, "create", "--source", "x", "--customer", "a b")
    assert rc == 2 and "--customer" in err and "not a valid id" in err
    rc, _, err = await cli(database_url, schema, "frobnicate")
    assert rc == 2 and "command" in err
