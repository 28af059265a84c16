"""Read-side queries behind the HTTP API (the routes in `views.py` stay thin) and the
monthly report event. The caller owns the connection; nothing here writes."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from sla_clock.contracts import ContractCache
from sla_clock.models import ReportRead
from sla_clock.report import build_report, month_bounds
from sla_clock.service import clock_views


async def find_ticket(
    conn: asyncpg.Connection,
    *,
    ticket_id: str,
    customer_id: str | None,
    scope: list[str] | None = None,
) -> asyncpg.Record | None:
    """The ticket row; `customer_id` only disambiguates two customers' equal ids;
    `scope` is the customers the caller may see (None: all)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT * FROM tickets WHERE ticket_id = $1
           AND ($2::text IS NULL OR customer_id = $2)
           AND ($3::text[] IS NULL OR customer_id = ANY($3))
           ORDER BY customer_id LIMIT 1""",
        ticket_id,
        customer_id,
        scope,
    )
    return row


async def ticket_clocks(
    conn: asyncpg.Connection, *, customer_id: str, ticket_id: str
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT * FROM clocks WHERE customer_id = $1 AND ticket_id = $2
           ORDER BY metric, cycle""",
        customer_id,
        ticket_id,
    )
    return rows


async def month_clocks(
    conn: asyncpg.Connection, *, customer_id: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Clocks that started in [start, end): a clock belongs to the month it started in."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT * FROM clocks WHERE customer_id = $1 AND started_at >= $2
           AND started_at < $3 ORDER BY started_at, ticket_id, metric, cycle""",
        customer_id,
        start,
        end,
    )
    return rows


async def month_outages(
    conn: asyncpg.Connection, *, customer_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime | None]]:
    """Top-level incidents overlapping [start, end), as (opened, resolved or None)."""
    rows = await conn.fetch(
        """SELECT opened_at, resolved_at FROM incidents
           WHERE customer_id = $1 AND parent_incident_id IS NULL
           AND opened_at < $3 AND (resolved_at IS NULL OR resolved_at > $2)""",
        customer_id,
        start,
        end,
    )
    return [(r["opened_at"], r["resolved_at"]) for r in rows]


async def read_sla_report(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    month: str,
    now: datetime,
    contracts: ContractCache,
) -> ReportRead | None:
    """The customer's SLA report for `month` as of `now` (None: no contract): what
    `GET /v1/customers/{id}/sla-report` answers and `SlaMonthlyReport` carries, so the
    two cannot disagree. The month is in the zone of the contract's latest version."""
    snapshots = await contracts.load(conn, [customer_id])
    contract = snapshots.get(customer_id)
    if contract is None:
        return None
    timezone = contract.current.timezone
    start, end = month_bounds(month, timezone)
    rows = await month_clocks(conn, customer_id=customer_id, start=start, end=end)
    clocks = await clock_views(conn, rows=rows, now=now, contracts=contracts)
    outages = await month_outages(conn, customer_id=customer_id, start=start, end=end)
    in_force = contract.version_at(end - timedelta(microseconds=1)) or contract.versions[0]
    return build_report(
        customer_id=customer_id,
        month=month,
        timezone=timezone,
        clocks=clocks,
        outages=outages,
        uptime_target=in_force.uptime_target_percent,
        now=now,
    )
