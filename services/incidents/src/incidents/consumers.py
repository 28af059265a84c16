"""The Kafka handlers, each run by a plumbing TransactionalConsumer: ONE Postgres
transaction per batch holds the state change, the input offsets, the processed event
ids and the output events (outbox), so nothing is committed past work not done.

- `make_triage_handler`: msp.monitoring.v1 and msp.contracts.v1 (co-partitioned by
  customer) -> the triage rules over the state the batch needs (`store.load`), then the
  changed state, the triage log and the incident and ticket events. A handler failure
  re-applies the batch record by record and dead-letters the one that fails, with its
  reason (the plumbing), so one poison alert stops nothing.
- `project_incidents`: msp.incidents.v1 -> the query model (incidents, their alerts,
  their timeline) that the API reads; idempotent by event id, rebuildable from the topic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from incidents import metrics, store, triage
from incidents.config import TriageConfig
from incidents.outputs import Effects
from incidents.priority import TIER_RANK
from msp_events import Envelope
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_plumbing.consumer import BatchHandler, Tx
from msp_plumbing.crashpoints import crash_point

log = logging.getLogger(__name__)


def make_triage_handler(cfg: TriageConfig) -> BatchHandler:
    async def triage_batch(tx: Tx, events: Sequence[Envelope]) -> None:
        started = time.perf_counter()
        batch = await store.load(tx.conn, events=events)
        effects = []
        for event in events:  # partition order per customer
            state = batch.states[event.customer_id]
            if isinstance(event.data, ContractSnapshot | ContractTerminated):
                batch.set_contract(event)
                failed: list[tuple[Envelope, str]] = []
                fx = triage.apply_contract(state, event.data, cfg, failed=failed)
                await blame(tx, fx, failed)
            else:
                fx = triage.apply_event(state, batch.contract(event.customer_id), event, cfg)
            # outputs continue the event's trace; its log line says what triage did
            effects.append(fx.caused_by(event))
            tx.outcomes[event.id] = fx.outcome()
        parked = [r.event_id for fx in effects for r in fx.log if r.outcome == "pending"]
        await tx.park(i for i in parked if i in tx.records)  # kept byte for byte
        released = store.released(batch)  # applied, expired or dead-lettered
        if released:
            await tx.unpark(released)
        await store.save(tx.conn, batch, cfg)
        await write_effects(tx, effects)
        crash_point("incidents.after_triage")
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    return triage_batch


async def blame(tx: Tx, fx: Effects, failed: list[tuple[Envelope, str]]) -> None:
    """Alerts that waited for the contract and whose triage failed: each is
    dead-lettered alone with its own record and reason (never the contract), logged."""
    for event, reason in failed:
        log.error(
            "a waiting alert failed when its contract came: dead-lettered",
            extra={"event_id": event.id, "reason": reason},
        )
        await tx.dead_letter_parked([event.id], reason=f"handler failed: {reason}")
        fx.record(
            event_id=event.id,
            outcome="dead_lettered",
            reason=f"failed when the contract came: {reason}",
            at=event.time,
        )


async def write_effects(tx: Tx, effects: Sequence[Effects]) -> None:
    """The outputs (outbox, deterministic ids: a replay's copies are dropped) and the
    triage log, in the caller's transaction; counted once it committed."""
    for fx in effects:
        for event in fx.events:
            tx.emit(event)
    await store.record_log(tx.conn, [row for fx in effects for row in fx.log])
    tx.on_commit.append(lambda: metrics.count(effects))


async def project_incidents(tx: Tx, events: Sequence[Envelope]) -> None:
    """A batch: the common cases (incidents opened, one per new alert when alerts are
    new; alerts and their devices attached to an incident, maybe its title recounted,
    hundreds of them in a storm) are written set-based; the rest one by one, in order.
    An incident's insert comes before anything else about it (same partition, earlier
    offset, or earlier in this batch), so pending inserts are written first.
    Attachments commute with everything but the incident's insert and another title:
    pending inserts and attachments are written before any other update of one of
    their incidents, so the latest title wins."""
    opened: list[tuple[Envelope, IncidentOpened]] = []
    pending: list[tuple[Envelope, IncidentUpdated]] = []
    pending_ids: set[str] = set()

    async def flush() -> None:
        nonlocal opened, pending, pending_ids
        await _project_opened(tx, opened)
        await _project_attachments(tx, pending)
        opened, pending, pending_ids = [], [], set()

    for event in events:
        data = event.data
        if isinstance(data, IncidentOpened):
            opened.append((event, data))
            pending_ids.add(data.incident_id)
            continue
        if isinstance(data, IncidentUpdated) and _attach_only(data):
            pending.append((event, data))
            pending_ids.add(data.incident_id)
            continue
        if getattr(data, "incident_id", None) in pending_ids:
            await flush()
        await project_incident(tx, event)
    await flush()


async def _project_opened(tx: Tx, opened: list[tuple[Envelope, IncidentOpened]]) -> None:
    """Incidents opened: rows, alerts and timeline lines, one statement each (the
    columns `project_incident` writes for one)."""
    if not opened:
        return
    datas = [d for _, d in opened]
    await tx.conn.execute(
        """INSERT INTO incidents (incident_id, customer_id, title, priority, impact,
               urgency, scope, tier, tier_rank, site_id, device_ids, check_kind,
               priority_reason, runbook, ticket_id, opened_at, updated_at)
           SELECT i, c, ti, p, im, u, sc, tr, rk, si,
                  ARRAY(SELECT x.d FROM jsonb_array_elements_text(dv::jsonb)
                        WITH ORDINALITY AS x(d, k) ORDER BY x.k),
                  ck, pr, rb, tk, o, o
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::smallint[], $10::text[],
                $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                $16::timestamptz[])
                WITH ORDINALITY AS r(i, c, ti, p, im, u, sc, tr, rk, si, dv, ck, pr, rb, tk,
                                     o, n)
           ORDER BY n
           ON CONFLICT (incident_id) DO NOTHING""",
        [d.incident_id for d in datas],
        [e.customer_id for e, _ in opened],
        [d.title for d in datas],
        [d.priority for d in datas],
        [d.impact for d in datas],
        [d.urgency for d in datas],
        [d.scope for d in datas],
        [d.tier for d in datas],
        [TIER_RANK[d.tier] for d in datas],
        [d.site_id for d in datas],
        [json.dumps(d.device_ids) for d in datas],
        [d.check_kind for d in datas],
        [d.priority_reason for d in datas],
        [d.runbook for d in datas],
        [d.ticket_id for d in datas],
        [d.opened_at for d in datas],
    )
    await tx.conn.execute(
        """INSERT INTO incident_alerts (incident_id, fingerprint, attached_at)
           SELECT i, f, a FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS r(i, f, a)
           ON CONFLICT DO NOTHING""",
        [d.incident_id for d in datas for _f in d.alert_fingerprints],
        [f for d in datas for f in d.alert_fingerprints],
        [d.opened_at for d in datas for _f in d.alert_fingerprints],
    )
    await tx.conn.execute(
        """INSERT INTO incident_timeline (event_id, incident_id, at, kind, detail)
           SELECT e, i, a, 'opened', d::jsonb
           FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS r(e, i, a, d)
           ON CONFLICT DO NOTHING""",
        [e.id for e, _ in opened],
        [d.incident_id for d in datas],
        [e.time for e, _ in opened],
        [json.dumps(_opened_detail(d)) for d in datas],
    )


def _opened_detail(data: IncidentOpened) -> dict[str, object]:
    return {"priority": data.priority, "reason": data.priority_reason, "title": data.title}


async def _project_attachments(tx: Tx, updates: list[tuple[Envelope, IncidentUpdated]]) -> None:
    if not updates:
        return
    await tx.conn.execute(
        """INSERT INTO incident_alerts (incident_id, fingerprint, attached_at)
           SELECT i, f, a FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS r(i, f, a)
           ON CONFLICT DO NOTHING""",
        [d.incident_id for _, d in updates for _f in d.alerts_attached],
        [f for _, d in updates for f in d.alerts_attached],
        [d.updated_at for _, d in updates for _f in d.alerts_attached],
    )
    await tx.conn.execute(
        """INSERT INTO incident_timeline (event_id, incident_id, at, kind, detail)
           SELECT e, i, a, 'updated', d::jsonb
           FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS r(e, i, a, d)
           ON CONFLICT DO NOTHING""",
        [e.id for e, _ in updates],
        [d.incident_id for _, d in updates],
        [e.time for e, _ in updates],
        [_detail(d) for _, d in updates],
    )
    # one row per incident: its new devices in order, its latest title, its latest time
    rows: dict[str, tuple[list[str], str | None, datetime]] = {}
    for _, d in updates:
        devices, title, at = rows.get(d.incident_id, ([], None, d.updated_at))
        for device in d.devices_attached:
            if device not in devices:
                devices.append(device)
        rows[d.incident_id] = (devices, d.title or title, max(at, d.updated_at))
    await tx.conn.execute(
        """UPDATE incidents i SET
               device_ids = i.device_ids || ARRAY(
                   SELECT u.d FROM jsonb_array_elements_text(r.devices::jsonb)
                       WITH ORDINALITY AS u(d, o)
                   WHERE u.d <> ALL(i.device_ids) ORDER BY u.o),
               title = COALESCE(r.title, i.title),
               updated_at = GREATEST(i.updated_at, r.at)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
               AS r(incident_id, devices, title, at)
           WHERE i.incident_id = r.incident_id""",
        list(rows),
        [json.dumps(devices) for devices, _, _ in rows.values()],
        [title for _, title, _ in rows.values()],
        [at for _, _, at in rows.values()],
    )


def _attach_only(data: IncidentUpdated) -> bool:
    return (
        data.priority is None
        and data.flapping is None
        and data.scope is None
        and data.impact is None
        and data.urgency is None
        and not data.children_attached
    )


def _detail(data: IncidentUpdated) -> str:
    return json.dumps(data.model_dump(mode="json", exclude_none=True, exclude={"incident_id"}))


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
        await _timeline(tx, event, data.incident_id, "opened", _opened_detail(data))
    elif isinstance(data, IncidentUpdated):
        await conn.execute(
            """UPDATE incidents SET
                   priority = COALESCE($2, priority),
                   priority_reason = CASE WHEN $2::text IS NULL THEN priority_reason
                                          ELSE priority_reason || E'\\n' || $3 END,
                   flapping = COALESCE($4, flapping),
                   scope = COALESCE($5, scope),
                   title = COALESCE($6, title),
                   updated_at = GREATEST(updated_at, $7),
                   device_ids = device_ids || ARRAY(
                       SELECT u.d FROM unnest($8::text[]) WITH ORDINALITY AS u(d, o)
                       WHERE u.d <> ALL(device_ids) ORDER BY u.o),
                   impact = COALESCE($9, impact),
                   urgency = COALESCE($10, urgency)
               WHERE incident_id = $1""",
            data.incident_id,
            data.priority,
            data.reason,
            data.flapping,
            data.scope,
            data.title,
            data.updated_at,
            data.devices_attached,
            data.impact,
            data.urgency,
        )
        await _attach(tx, data.incident_id, data.alerts_attached, data.updated_at)
        detail = json.loads(_detail(data))
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
