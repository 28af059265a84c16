"""The audit log: every mutating call, with the principal that made it (from its
verified credential, never from a request body), written in the same transaction as
the change, in the shared access schema's `audit_log`. Admins read it with
`GET /v1/audit` on any service (`audit:read`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from msp_access.apikeys import table
from msp_access.principal import Principal


async def record(
    conn: asyncpg.Connection,
    *,
    schema: str,
    service: str,
    action: str,
    principal: Principal,
    customer_id: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        f"""INSERT INTO {table(schema, "audit_log")}
              (service, action, subject, display_name, credential_id, customer_id,
               object_id, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)""",
        service,
        action,
        principal.subject,
        principal.display_name,
        principal.credential_id,
        customer_id,
        object_id,
        json.dumps(details or {}, default=str),
    )


async def query(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    schema: str,
    subject: str | None = None,
    action: str | None = None,
    customer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    scope: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Newest first; `scope`: the customers the reader may see (None: all, including
    records about no customer, e.g. key changes)."""
    rows = await conn.fetch(
        f"""SELECT audit_id, at, service, action, subject, display_name, credential_id,
                   customer_id, object_id, details::text AS details
              FROM {table(schema, "audit_log")}
             WHERE ($1::text IS NULL OR subject = $1)
               AND ($2::text IS NULL OR action = $2)
               AND ($3::text IS NULL OR customer_id = $3)
               AND ($4::timestamptz IS NULL OR at >= $4)
               AND ($5::timestamptz IS NULL OR at < $5)
               AND ($7::text[] IS NULL OR customer_id = ANY($7))
             ORDER BY audit_id DESC LIMIT $6""",
        subject,
        action,
        customer_id,
        since,
        until,
        limit,
        scope,
    )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]
