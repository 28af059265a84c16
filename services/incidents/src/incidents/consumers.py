"""The projection: a TransactionalConsumer over msp.incidents.v1 writes the query model
(incidents, their alerts, their timeline) that the API reads. Idempotent by event id
(the plumbing's processed_events) with offsets in the same transaction, so the query
model can always be rebuilt from the topic."""

from __future__ import annotations

import json
from collections.abc import Mapping

from incidents.priority import TIER_RANK
from msp_events import Envelope
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_plumbing.consumer import Tx


async def project_incident(tx: Tx, event: Envelope) -> None:
    data = event.data
    conn = tx.conn
    if isinstance(data, IncidentOpened):
        await conn.execute(
            """INSERT INTO incidents (incident_id, customer_id, title, priority, impact,
                   urgency, scope, tier, tier_rank, site_id, device_ids, check_kind,
                   priority_reason, runbook, ticket_id, opened_at, updated_at)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$16)
               ON CONFLICT (incident_id) DO NOTHING""",
            data.incident_id,
            event.customer_id,
            data.title,
            data.priority,
            data.impact,
            data.urgency,
            data.scope,
            data.tier,
            TIER_RANK[data.tier],
            data.site_id,
            data.device_ids,
            data.check_kind,
            data.priority_reason,
            data.runbook,
            data.ticket_id,
            data.opened_at,
        )
        await _attach(tx, data.incident_id, data.alert_fingerprints, data.opened_at)
        detail = {"priority": data.priority, "reason": data.priority_reason, "title": data.title}
        await _timeline(tx, event, data.incident_id, "opened", detail)
    elif isinstance(data, IncidentUpdated):
        await conn.execute(
            """UPDATE incidents SET
                   priority = COALESCE($2, priority),
                   priority_reason = CASE WHEN $2::text IS NULL THEN priority_reason
                                          ELSE priority_reason || E'\\n' || $3 END,
                   flapping = COALESCE($4, flapping),
                   scope = COALESCE($5, scope),
                   title = COALESCE($6, title),
                   updated_at = GREATEST(updated_at, $7)
               WHERE incident_id = $1""",
            data.incident_id,
            data.priority,
            data.reason,
            data.flapping,
            data.scope,
            data.title,
            data.updated_at,
        )
        await _attach(tx, data.incident_id, data.alerts_attached, data.updated_at)
        detail = data.model_dump(mode="json", exclude_none=True, exclude={"incident_id"})
        await _timeline(tx, event, data.incident_id, "updated", detail)
    elif isinstance(data, IncidentResolved):
        await conn.execute(
            """UPDATE incidents SET status = 'resolved', resolved_at = $2, resolution = $3,
                   flapping = false, updated_at = GREATEST(updated_at, $2)
               WHERE incident_id = $1""",
            data.incident_id,
            data.resolved_at,
            data.reason,
        )
        await _timeline(tx, event, data.incident_id, "resolved", {"reason": data.reason})


async def _attach(tx: Tx, incident_id: str, fingerprints: list[str], at: object) -> None:
    if not fingerprints:
        return
    await tx.conn.execute(
        """INSERT INTO incident_alerts (incident_id, fingerprint, attached_at)
           SELECT $1, unnest($2::text[]), $3 ON CONFLICT DO NOTHING""",
        incident_id,
        fingerprints,
        at,
    )


async def _timeline(
    tx: Tx, event: Envelope, incident_id: str, kind: str, detail: Mapping[str, object]
) -> None:
    await tx.conn.execute(
        """INSERT INTO incident_timeline (event_id, incident_id, at, kind, detail)
           VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING""",
        event.id,
        incident_id,
        event.time,
        kind,
        json.dumps(detail),
    )
