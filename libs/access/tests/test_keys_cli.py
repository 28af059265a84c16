"""`python -m msp_access.keys` against the real Postgres: create, list, revoke, scopes,
and errors that name the argument."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg
import pytest

from msp_access.apikeys import KeyCache

pytestmark = pytest.mark.integration
PEPPER = "test-pepper"


async def cli(database_url: str, schema: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "MSP_ACCESS_SCHEMA": schema}
    env["MSP_API_KEY_PEPPER"] = PEPPER
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "msp_access.keys",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_create_list_revoke(database_url: str, access_schema: str) -> None:
    rc, out, err = await cli(
        database_url,
        access_schema,
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
    assert created["roles"] == ["publisher"]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        cache = KeyCache(pool=pool, schema=access_schema, pepper=PEPPER, ttl_s=0)
        key = await cache.resolve(created["key"])
        assert key is not None and key.labels.customer == "tenant"
        principal = key.principal()
        assert principal.sees("cust-a") and not principal.sees("cust-c")
        assert await cache.resolve(created["key"] + "x") is None

        rc, out, _ = await cli(database_url, access_schema, "list")
        (listed,) = [json.loads(line) for line in out.splitlines()]
        assert listed["key_id"] == created["key_id"] and created["key"] not in out

        rc, out, _ = await cli(database_url, access_schema, "revoke", created["key_id"])
        assert rc == 0 and json.loads(out)["revoked"] is True
        assert await cache.resolve(created["key"]) is None
        rc, _, err = await cli(database_url, access_schema, "revoke", created["key_id"])
        assert rc == 1 and err.startswith("key_id:")
    finally:
        await pool.close()


async def test_an_all_customer_admin_key(database_url: str, access_schema: str) -> None:
    rc, out, err = await cli(
        database_url, access_schema, "create", "--source", "ops", "--all-customers",
        "--role", "admin", "--role", "billing",
    )  # fmt: skip
    assert rc == 0, err
    created = json.loads(out)
    assert created["customer_ids"] == "*" and created["roles"] == ["admin", "billing"]


async def test_bad_arguments_are_named(database_url: str, access_schema: str) -> None:
    rc, _, err = await cli(database_url, access_schema, "create", "--source", "x")
    assert rc == 2 and "--customer" in err
    rc, _, err = await cli(
        database_url, access_schema, "create", "--source", "x", "--customer", "a b"
    )
    assert rc == 2 and "--customer" in err and "not a valid id" in err
    rc, _, err = await cli(
        database_url, access_schema, "create", "--source", "x", "--customer", "a", "--role", "god"
    )
    assert rc == 2 and "--role" in err
    rc, _, err = await cli(database_url, access_schema, "frobnicate")
    assert rc == 2 and "command" in err


async def test_a_revoked_key_is_refused_once_the_cache_ttl_has_passed(
    database_url: str, access_schema: str
) -> None:
    """The documented revocation latency is `auth_cache_ttl_s`: until then an instance
    may still answer from its cache, from then on the key is refused (a clock the test
    moves, on the real table)."""
    rc, out, err = await cli(
        database_url, access_schema, "create", "--source", "soon-gone", "--customer", "c1"
    )
    assert rc == 0, err
    created = json.loads(out)
    now = [1000.0]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        cache = KeyCache(
            pool=pool, schema=access_schema, pepper=PEPPER, ttl_s=5.0, clock=lambda: now[0]
        )
        assert await cache.resolve(created["key"]) is not None
        rc, _, err = await cli(database_url, access_schema, "revoke", created["key_id"])
        assert rc == 0, err
        now[0] += 4.9
        assert await cache.resolve(created["key"]) is not None, "within the TTL: cached"
        now[0] += 0.1
        assert await cache.resolve(created["key"]) is None, "at the TTL: refused"
    finally:
        await pool.close()
