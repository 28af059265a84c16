"""Queries over the query model. Keyword-only; the caller owns the connection."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from incidents.models import AlertRead, IncidentDetail, IncidentRead, TimelineEntry, TriageRecord

_COLUMNS = """i.incident_id, i.customer_id, i.title, i.status, i.priority, i.impact,
    i.urgency, i.scope, i.tier, i.site_id, i.device_ids, i.check_kind, i.priority_reason,
    i.runbook, i.ticket_id, i.flapping, i.opened_at, i.resolved_at, i.resolution,
    (SELECT count(*) FROM incident_alerts a WHERE a.incident_id = i.incident_id) AS alert_count"""


async def list_incidents(
    conn: asyncpg.Connection,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    priority: str | None = None,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
    limit: int = 100,
    scope: list[str] | None = None,
) -> list[IncidentRead]:
    """The work queue: priority, then tier (VIP first), then oldest first. `scope`: the
    customers the caller may see (None: all)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM incidents i
            WHERE ($1::text IS NULL OR i.customer_id = $1)
              AND ($2::text IS NULL OR i.status = $2)
              AND ($3::text IS NULL OR i.priority = $3)
              AND ($4::timestamptz IS NULL OR i.opened_at >= $4)
              AND ($5::timestamptz IS NULL OR i.opened_at < $5)
              AND ($7::text[] IS NULL OR i.customer_id = ANY($7))
            ORDER BY i.priority, i.tier_rank, i.opened_at, i.incident_id
            LIMIT $6""",
        customer_id,
        status,
        priority,
        opened_from,
        opened_to,
        limit,
        scope,
    )
    return [IncidentRead(**dict(r)) for r in rows]


async def get_incident(conn: asyncpg.Connection, *, incident_id: str) -> IncidentDetail | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM incidents i WHERE i.incident_id = $1", incident_id
    )
    if row is None:
        return None
    alerts = await conn.fetch(
        """SELECT a.fingerprint, a.attached_at, l.device_id, l.site_id, l.check_kind,
                  l.severity, l.outcome AS last_outcome
           FROM incident_alerts a
           LEFT JOIN LATERAL (
               SELECT device_id, site_id, check_kind, severity, outcome FROM triage_log t
               WHERE t.customer_id = $2 AND t.fingerprint = a.fingerprint
               ORDER BY t.at DESC LIMIT 1) l ON true
           WHERE a.incident_id = $1 ORDER BY a.attached_at, a.fingerprint""",
        incident_id,
        row["customer_id"],
    )
    timeline = await conn.fetch(
        """SELECT event_id, at, kind, detail FROM incident_timeline
           WHERE incident_id = $1 ORDER BY at, event_id""",
        incident_id,
    )
    return IncidentDetail(
        **dict(row),
        alerts=[AlertRead(**dict(a)) for a in alerts],
        timeline=[
            TimelineEntry(
                event_id=t["event_id"], at=t["at"], kind=t["kind"], detail=json.loads(t["detail"])
            )
            for t in timeline
        ],
    )


async def list_triage_records(
    conn: asyncpg.Connection, *, customer_id: str, outcome: str | None = None, limit: int = 100
) -> list[TriageRecord]:
    rows = await conn.fetch(
        """SELECT event_id, customer_id, fingerprint, outcome, reason, incident_id, at
           FROM triage_log WHERE customer_id = $1 AND ($2::text IS NULL OR outcome = $2)
           ORDER BY at, event_id LIMIT $3""",
        customer_id,
        outcome,
        limit,
    )
    return [TriageRecord(**dict(r)) for r in rows]
