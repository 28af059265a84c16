"""Credentials for tests and `make run`: the one place a test fixture gets an operator
credential (an API key with every staff role, bound to all customers) and the
Prometheus scrape credential, so no test builds its own.

The access schema of a namespace is `<namespace>access` (the services' default), made
by `prepare_access` (the Fleet and `make run` migrate it with the service schemas).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from msp_access.apikeys import create_key
from msp_access.roles import OPERATOR_ROLES
from msp_access.settings import DEV_METRICS_TOKEN, DEV_PEPPER


def access_schema(namespace: str) -> str:
    return f"{namespace}access"


async def prepare_access(database_url: str, *, namespace: str) -> str:
    """Migrate the namespace's access schema (idempotent); returns its name."""
    from msp_plumbing.migrations import migrate

    schema = access_schema(namespace)
    await migrate(database_url, schema=schema, package="msp_access")
    return schema


async def new_key(
    database_url: str,
    *,
    namespace: str,
    roles: Sequence[str] = OPERATOR_ROLES,
    customers: Sequence[str] = (),
    source: str = "test-operator",
    pepper: str = DEV_PEPPER,
) -> str:
    """A fresh API key (the secret) in the namespace's access schema; bound to every
    customer when `customers` is empty. The default is the operator credential."""
    schema = await prepare_access(database_url, namespace=namespace)
    conn = await asyncpg.connect(database_url)
    try:
        _, secret = await create_key(
            conn,
            schema=schema,
            pepper=pepper,
            source=source,
            roles=roles,
            customer_ids=customers,
            all_customers=not customers,
            created_by="msp_devstack",
        )
    finally:
        await conn.close()
    return secret


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def metrics_headers(token: str = DEV_METRICS_TOKEN) -> dict[str, str]:
    """The Prometheus scrape credential (`MSP_METRICS_TOKEN`, the dev default here)."""
    return bearer(token)


async def operator_headers(database_url: str, *, namespace: str) -> dict[str, str]:
    """Headers with a fresh operator credential for the services of `namespace`: what
    every test fixture's HTTP client sends."""
    return bearer(await new_key(database_url, namespace=namespace))
