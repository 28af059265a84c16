"""Who runs a mspctl command that works on the database directly (keys, DLQ replay,
rebuild), for the audit log and the permission check.

With `MSPCTL_TOKEN` set to an API key, that key is verified against the access schema
(with the services' pepper) and must hold the command's permission; its principal is
the actor. Otherwise (no token, or a bearer JWT, which mspctl cannot verify without the
provider) the actor is the database login: only someone holding the database
credentials can run these commands at all, and the audit record says so
(`credential_id: database`)."""

from __future__ import annotations

import getpass
from typing import Any

import asyncpg

from msp_access import audit
from msp_access.apikeys import KEY_PREFIX, find_active_key, hash_key
from msp_access.principal import ALL, Principal
from msp_access.roles import Permission
from mspctl.common import fail
from mspctl.settings import CtlSettings


async def operator(
    settings: CtlSettings, conn: asyncpg.Connection, permission: Permission
) -> Principal:
    token = settings.token.get_secret_value() if settings.token else ""
    if token.startswith(KEY_PREFIX):
        key = await find_active_key(
            conn,
            schema=settings.schema_of("access"),
            key_hash=hash_key(settings.api_key_pepper.get_secret_value(), token),
        )
        if key is None:
            fail("MSPCTL_TOKEN: unknown or revoked API key", code=2)
        principal = key.principal()
        if not principal.can(permission):
            fail(f"MSPCTL_TOKEN: key {key.key_id} lacks {permission.value}", code=2)
        return principal
    login = str(await conn.fetchval("SELECT current_user"))
    return Principal.of(
        subject=f"db:{login}",
        display_name=getpass.getuser(),
        credential_id="database",
        kind="person",
        roles={"admin"},
        customers=ALL,
    )


async def audited(
    settings: CtlSettings,
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    *,
    object_id: str | None = None,
    customer_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        conn,
        schema=settings.schema_of("access"),
        service="mspctl",
        action=action,
        principal=principal,
        customer_id=customer_id,
        object_id=object_id,
        details=details,
    )
