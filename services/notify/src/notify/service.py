"""Domain operations on notify's state (the caller owns the transaction): contracts,
incidents and their audience, the deliveries to make, claiming and recording them.

A delivery's id is derived from (event id, channel, address): a replayed event plans
the same ids and `ON CONFLICT DO NOTHING` keeps the first. Deliveries are written in the
consumer's transaction, with its offsets: the outbox of deliveries to make."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from msp_events import derive_event_id
from msp_events.types.contracts import ContractSnapshot, ContractTerminated, ContractVersion
from notify.rules import Notice, Recipient, not_before


def delivery_id(event_id: str, channel: str, address: str) -> str:
    return derive_event_id("notify-delivery", event_id, channel, address)


async def store_contract(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    contract: ContractSnapshot | ContractTerminated,
    event_id: str,
) -> None:
    """Keep the version history (a termination's too: its people still get the last
    report)."""
    history = ContractSnapshot(contract_id=contract.contract_id, versions=contract.versions)
    await conn.execute(
        """INSERT INTO contracts (customer_id, payload, event_id) VALUES ($1, $2::jsonb, $3)
           ON CONFLICT (customer_id) DO UPDATE
           SET payload = EXCLUDED.payload, event_id = EXCLUDED.event_id, updated_at = now()""",
        customer_id,
        history.model_dump_json(),
        event_id,
    )


async def contract(conn: asyncpg.Connection, *, customer_id: str) -> ContractSnapshot | None:
    """The customer's contract with its whole history, or None."""
    payload = await conn.fetchval(
        "SELECT payload FROM contracts WHERE customer_id = $1", customer_id
    )
    if payload is None:
        return None
    if isinstance(payload, str):
        return ContractSnapshot.model_validate_json(payload)
    return ContractSnapshot.model_validate(payload)


ParsedContracts = dict[str, tuple[str, ContractSnapshot]]
"""customer id -> (the id of the event that stored the contract, the contract)"""


async def contracts(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], parsed: ParsedContracts
) -> dict[str, ContractSnapshot]:
    """The contracts (whole history) of these customers, in one query; a customer
    without one is absent. `parsed` holds the contracts parsed before, by the event
    that stored them: a contract still stored by that event is not sent or parsed
    again (parsing a contract costs far more than a batch's other work); the ones
    parsed now are added to it."""
    known = [(c, parsed[c][0]) for c in customer_ids if c in parsed]
    rows = await conn.fetch(
        """SELECT c.customer_id, c.event_id,
                  CASE WHEN c.event_id = k.e THEN NULL ELSE c.payload END AS payload
           FROM contracts c
           LEFT JOIN unnest($2::text[], $3::text[]) AS k(c, e) ON k.c = c.customer_id
           WHERE c.customer_id = ANY($1::text[])""",
        list(customer_ids),
        [k[0] for k in known],
        [k[1] for k in known],
    )
    found: dict[str, ContractSnapshot] = {}
    for r in rows:
        customer, payload = r["customer_id"], r["payload"]
        if payload is None:
            found[customer] = parsed[customer][1]
            continue
        snapshot = (
            ContractSnapshot.model_validate_json(payload)
            if isinstance(payload, str)
            else ContractSnapshot.model_validate(payload)
        )
        parsed[customer] = (r["event_id"], snapshot)
        found[customer] = snapshot
    return found


def version_at(snapshot: ContractSnapshot | None, at: datetime) -> ContractVersion | None:
    """The contract version in force at `at` (else its first), or None."""
    if snapshot is None:
        return None
    return snapshot.version_at(at) or snapshot.versions[0]


async def contract_version(
    conn: asyncpg.Connection, *, customer_id: str, at: datetime
) -> ContractVersion | None:
    """The customer's contract version in force at `at` (else its first), or None."""
    return version_at(await contract(conn, customer_id=customer_id), at)


@dataclass(frozen=True)
class PlannedDelivery:
    """One delivery row to insert (`insert_deliveries`)."""

    delivery_id: str
    event_id: str
    event_type: str
    customer_id: str
    kind: str
    channel: str
    address: str
    role: str
    recipient_name: str
    message: str
    group_key: str | None
    due: datetime
    source_time: datetime
    follows: str | None = None
    members: str = "[]"
    """The grouped notices after the first (a JSON array)."""


def planned(
    *, event_id: str, event_type: str, notice: Notice, recipients: Sequence[Recipient]
) -> list[PlannedDelivery]:
    """The deliveries of an ungrouped `notice` (pure: no group to join)."""
    message = json.dumps(notice.to_json())
    return [
        PlannedDelivery(
            delivery_id(event_id, r.channel, r.address),
            event_id,
            event_type,
            notice.customer_id,
            notice.kind,
            r.channel,
            r.address,
            r.role,
            r.name,
            message,
            None,
            not_before(notice, r),
            notice.at,
        )
        for r in recipients
    ]


async def insert_deliveries(
    conn: asyncpg.Connection, rows: Sequence[PlannedDelivery]
) -> list[asyncpg.Record]:
    """Insert `rows` in one statement; a row whose id exists already (a replay, or a
    second recipient on the same channel and address) is skipped: the first is kept,
    as row by row. Returns (delivery_id, event_id, kind) of the rows inserted."""
    if not rows:
        return []
    inserted: list[asyncpg.Record] = await conn.fetch(
        """INSERT INTO deliveries (delivery_id, event_id, event_type, customer_id, kind,
               channel, address, role, recipient_name, message, group_key,
               next_attempt_at, due_at, source_time, follows, members)
           SELECT d, e, t, c, k, ch, a, r, n, m::jsonb, g, due, due, st, f, mb::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                       $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                       $11::text[], $12::timestamptz[], $13::timestamptz[], $14::text[],
                       $15::text[])
                AS u(d, e, t, c, k, ch, a, r, n, m, g, due, st, f, mb)
           ON CONFLICT (delivery_id) DO NOTHING
           RETURNING delivery_id, event_id, kind""",
        [p.delivery_id for p in rows],
        [p.event_id for p in rows],
        [p.event_type for p in rows],
        [p.customer_id for p in rows],
        [p.kind for p in rows],
        [p.channel for p in rows],
        [p.address for p in rows],
        [p.role for p in rows],
        [p.recipient_name for p in rows],
        [p.message for p in rows],
        [p.group_key for p in rows],
        [p.due for p in rows],
        [p.source_time for p in rows],
        [p.follows for p in rows],
        [p.members for p in rows],
    )
    return inserted


@dataclass(frozen=True)
class GroupedNotice:
    """A notice with a group key, for these recipients (`plan_grouped`)."""

    event_id: str
    event_type: str
    notice: Notice
    recipients: Sequence[Recipient]


async def plan_grouped(
    conn: asyncpg.Connection, *, notices: Sequence[GroupedNotice], group_window_s: float
) -> list[PlannedDelivery]:
    """Group `notices` (in order): each joins the pending group message of its key,
    channel and address when there is one (sent when the window closes: one still
    open in the database, locked here, or one an earlier notice opened), else opens
    one, due no sooner than the window's end. The joins are written here in one
    statement; the groups opened are returned (with their members) for the caller to
    insert with the batch's other deliveries."""
    if not notices:
        return []
    keys = list(
        dict.fromkeys(
            (g.notice.group_key or "", r.channel, r.address) for g in notices for r in g.recipients
        )
    )
    rows = await conn.fetch(
        """SELECT now() AS now, d.delivery_id, d.group_key, d.channel, d.address
           FROM deliveries d
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(g, c, a)
             ON d.group_key = k.g AND d.channel = k.c AND d.address = k.a
           WHERE d.status = 'pending' AND d.next_attempt_at > now()
           ORDER BY d.created_at, d.delivery_id
           FOR UPDATE OF d""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    now = rows[0]["now"] if rows else await conn.fetchval("SELECT now()")
    window_end = now + timedelta(seconds=group_window_s)
    open_groups: dict[tuple[str, str, str], str] = {}  # the earliest pending group per key
    for row in rows:
        if row["delivery_id"] is not None:
            key = (row["group_key"], row["channel"], row["address"])
            open_groups.setdefault(key, row["delivery_id"])
    joined: dict[str, list[str]] = {}
    opened: dict[str, PlannedDelivery] = {}
    for g in notices:
        notice, message = g.notice, json.dumps(g.notice.to_json())
        for r in g.recipients:
            key = (notice.group_key or "", r.channel, r.address)
            if key in open_groups:
                joined.setdefault(open_groups[key], []).append(message)
                continue
            new = delivery_id(g.event_id, r.channel, r.address)
            opened.setdefault(
                new,
                PlannedDelivery(
                    new,
                    g.event_id,
                    g.event_type,
                    notice.customer_id,
                    notice.kind,
                    r.channel,
                    r.address,
                    r.role,
                    r.name,
                    message,
                    notice.group_key,
                    max(not_before(notice, r), window_end),
                    notice.at,
                ),
            )
            open_groups[key] = new
    existing = {i: m for i, m in joined.items() if i not in opened}
    if existing:
        await conn.execute(
            """UPDATE deliveries d SET members = d.members || u.added::jsonb
               FROM unnest($1::text[], $2::text[]) AS u(id, added)
               WHERE d.delivery_id = u.id""",
            list(existing),
            [f"[{', '.join(m)}]" for m in existing.values()],
        )
    return [
        replace(p, members=f"[{', '.join(joined[i])}]") if i in joined else p
        for i, p in opened.items()
    ]


async def plan_corrections(
    conn: asyncpg.Connection,
    *,
    event_id: str,
    event_type: str,
    corrects_event_id: str,
    notice: Notice,
) -> int:
    """Queue `notice` (a correction) to each recipient of `corrects_event_id`, on the
    same channel, following that delivery: the worker sends it only once the corrected
    one is sent, and it is withdrawn if that one is dead-lettered (`record_failed`):
    a notice never sent gets no correction. Returns how many new deliveries."""
    originals = await conn.fetch(
        """SELECT delivery_id, customer_id, channel, address, role, recipient_name
           FROM deliveries WHERE event_id = $1 AND status <> 'dead'""",
        corrects_event_id,
    )
    message = json.dumps(notice.to_json())
    rows = [
        PlannedDelivery(
            delivery_id(event_id, o["channel"], o["address"]),
            event_id,
            event_type,
            o["customer_id"],
            notice.kind,
            o["channel"],
            o["address"],
            o["role"],
            o["recipient_name"],
            message,
            None,
            notice.at,
            notice.at,
            o["delivery_id"],
        )
        for o in originals
    ]
    return len(await insert_deliveries(conn, rows))


# -- incidents and who heard of them ----------------------------------------------------


async def store_incident(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    incident_id: str,
    title: str,
    priority: str,
    site_id: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO incidents (customer_id, incident_id, title, priority, site_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer_id, incident_id) DO UPDATE
           SET title = EXCLUDED.title, priority = EXCLUDED.priority,
               site_id = COALESCE(EXCLUDED.site_id, incidents.site_id)""",
        customer_id,
        incident_id,
        title,
        priority,
        site_id,
    )


async def incident(
    conn: asyncpg.Connection, *, customer_id: str, incident_id: str
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM incidents WHERE customer_id = $1 AND incident_id = $2",
        customer_id,
        incident_id,
    )
    return row


@dataclass
class IncidentRow:
    """What notify keeps of an incident."""

    title: str
    priority: str
    site_id: str | None


IncidentKey = tuple[str, str]
"""(customer id, incident id)"""


async def incidents(
    conn: asyncpg.Connection, *, keys: Sequence[IncidentKey]
) -> dict[IncidentKey, IncidentRow]:
    """The incidents of these keys, in one query; an unknown one is absent."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT i.customer_id, i.incident_id, i.title, i.priority, i.site_id
           FROM incidents i
           JOIN unnest($1::text[], $2::text[]) AS k(c, n)
             ON i.customer_id = k.c AND i.incident_id = k.n""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["customer_id"], r["incident_id"]): IncidentRow(r["title"], r["priority"], r["site_id"])
        for r in rows
    }


async def store_incidents(
    conn: asyncpg.Connection, *, rows: dict[IncidentKey, IncidentRow]
) -> None:
    """Upsert these incidents in one statement (one row per key: the batch's last)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO incidents (customer_id, incident_id, title, priority, site_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           ON CONFLICT (customer_id, incident_id) DO UPDATE
           SET title = EXCLUDED.title, priority = EXCLUDED.priority,
               site_id = COALESCE(EXCLUDED.site_id, incidents.site_id)""",
        [k[0] for k in rows],
        [k[1] for k in rows],
        [r.title for r in rows.values()],
        [r.priority for r in rows.values()],
        [r.site_id for r in rows.values()],
    )


async def remember_audiences(
    conn: asyncpg.Connection, *, rows: Sequence[tuple[IncidentKey, Recipient]]
) -> None:
    """Remember who was told of which incident, in one statement (the first role and
    name of a channel and address are kept)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO incident_audience (customer_id, incident_id, channel, address, role, name)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[])
           ON CONFLICT DO NOTHING""",
        [k[0] for k, _ in rows],
        [k[1] for k, _ in rows],
        [r.channel for _, r in rows],
        [r.address for _, r in rows],
        [r.role for _, r in rows],
        [r.name for _, r in rows],
    )


async def audiences(
    conn: asyncpg.Connection, *, keys: Sequence[IncidentKey]
) -> dict[IncidentKey, list[Recipient]]:
    """Who was told of each of these incidents (`audience`), in one query."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT a.customer_id, a.incident_id, a.channel, a.address, a.role, a.name
           FROM incident_audience a
           JOIN unnest($1::text[], $2::text[]) AS k(c, n)
             ON a.customer_id = k.c AND a.incident_id = k.n
           ORDER BY a.customer_id, a.incident_id, a.role, a.channel, a.address""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    told: dict[IncidentKey, list[Recipient]] = {}
    for r in rows:
        told.setdefault((r["customer_id"], r["incident_id"]), []).append(
            Recipient(r["role"], r["name"], r["channel"], r["address"])
        )
    return told


async def remember_audience(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    incident_id: str,
    recipients: Sequence[Recipient],
) -> None:
    await conn.executemany(
        """INSERT INTO incident_audience (customer_id, incident_id, channel, address, role, name)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        [(customer_id, incident_id, r.channel, r.address, r.role, r.name) for r in recipients],
    )


async def audience(
    conn: asyncpg.Connection, *, customer_id: str, incident_id: str
) -> list[Recipient]:
    rows = await conn.fetch(
        """SELECT channel, address, role, name FROM incident_audience
           WHERE customer_id = $1 AND incident_id = $2 ORDER BY role, channel, address""",
        customer_id,
        incident_id,
    )
    return [Recipient(r["role"], r["name"], r["channel"], r["address"]) for r in rows]


# -- the delivery worker's side ---------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    event_id: str
    channel: str
    address: str
    recipient_name: str
    kind: str
    attempt: int
    message: dict[str, Any]
    members: list[dict[str, Any]]
    created_at: datetime
    due_at: datetime


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def claim_due(
    conn: asyncpg.Connection, *, limit: int, lease_s: float, channels: Sequence[str]
) -> list[Claimed]:
    """Take up to `limit` due deliveries (and ones whose sender crashed: 'sending' past
    their lease): each becomes 'sending' with one more attempt, recorded as started.
    An attempt left 'sending' by a crash is recorded 'unknown'. Commit before sending."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT delivery_id FROM deliveries
               WHERE ((status IN ('pending', 'retrying') AND next_attempt_at <= now())
                      OR (status = 'sending' AND lease_until < now()))
                 AND channel = ANY($3)
                 AND (follows IS NULL OR EXISTS (
                      SELECT 1 FROM deliveries o
                      WHERE o.delivery_id = deliveries.follows AND o.status = 'sent'))
               ORDER BY next_attempt_at, delivery_id LIMIT $1 FOR UPDATE SKIP LOCKED)
           UPDATE deliveries d
           SET status = 'sending', attempts = d.attempts + 1,
               lease_until = now() + make_interval(secs => $2)
           FROM due WHERE d.delivery_id = due.delivery_id
           RETURNING d.*""",
        limit,
        lease_s,
        list(channels),
    )
    if not rows:
        return []
    ids = [r["delivery_id"] for r in rows]
    await conn.execute(
        """UPDATE delivery_attempts SET outcome = 'unknown', finished_at = now(),
               error = 'the sender stopped before recording the outcome'
           WHERE delivery_id = ANY($1) AND outcome = 'sending'""",
        ids,
    )
    await conn.executemany(
        "INSERT INTO delivery_attempts (delivery_id, attempt) VALUES ($1, $2)",
        [(r["delivery_id"], r["attempts"]) for r in rows],
    )
    return [
        Claimed(
            delivery_id=r["delivery_id"],
            event_id=r["event_id"],
            channel=r["channel"],
            address=r["address"],
            recipient_name=r["recipient_name"],
            kind=r["kind"],
            attempt=r["attempts"],
            message=_json(r["message"]),
            members=_json(r["members"]),
            created_at=r["created_at"],
            due_at=r["due_at"],
        )
        for r in rows
    ]


async def record_sent(
    conn: asyncpg.Connection, *, delivery_id: str, attempt: int, http_status: int | None
) -> None:
    await conn.execute(
        """UPDATE deliveries SET status = 'sent', sent_at = now(), lease_until = NULL,
               last_error = NULL
           WHERE delivery_id = $1 AND attempts = $2""",
        delivery_id,
        attempt,
    )
    await _finish_attempt(conn, delivery_id, attempt, "sent", http_status, None)


async def record_failed(
    conn: asyncpg.Connection,
    *,
    delivery_id: str,
    attempt: int,
    http_status: int | None,
    error: str,
    retry_in_s: float | None,
) -> str:
    """A failed attempt: 'retrying' after `retry_in_s`, or 'dead' when None (bounded
    attempts used up, or a permanent refusal). Returns the new status."""
    status = "dead" if retry_in_s is None else "retrying"
    await conn.execute(
        """UPDATE deliveries SET status = $3, lease_until = NULL, last_error = $4,
               next_attempt_at = now() + make_interval(secs => $5)
           WHERE delivery_id = $1 AND attempts = $2""",
        delivery_id,
        attempt,
        status,
        error[:2000],
        retry_in_s or 0.0,
    )
    await _finish_attempt(conn, delivery_id, attempt, "failed", http_status, error)
    if status == "dead":  # never sent: its corrections (and theirs) have nothing to correct
        await conn.execute(
            """WITH RECURSIVE followers AS (
                   SELECT delivery_id FROM deliveries WHERE follows = $1 AND status = 'pending'
                   UNION SELECT d.delivery_id FROM deliveries d
                   JOIN followers f ON d.follows = f.delivery_id)
               DELETE FROM deliveries WHERE delivery_id IN (SELECT delivery_id FROM followers)""",
            delivery_id,
        )
    return status


async def _finish_attempt(
    conn: asyncpg.Connection,
    delivery_id: str,
    attempt: int,
    outcome: str,
    http_status: int | None,
    error: str | None,
) -> None:
    await conn.execute(
        """UPDATE delivery_attempts SET outcome = $3, finished_at = now(), http_status = $4,
               error = $5
           WHERE delivery_id = $1 AND attempt = $2""",
        delivery_id,
        attempt,
        outcome,
        http_status,
        None if error is None else error[:2000],
    )


async def retry_backlog(conn: asyncpg.Connection) -> int:
    """Deliveries waiting to be tried again after a failure."""
    count: int = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'retrying'")
    return count


async def prune_settled(conn: asyncpg.Connection, *, older_than: datetime, limit: int) -> int:
    """Delete up to `limit` deliveries that ended before `older_than` ('sent' at
    `sent_at`; 'dead' at its last attempt, when `next_attempt_at` was set) with their
    attempts. One a correction still waits on (`follows`) is kept: the correction is
    claimed only while it exists. Pending, sending and retrying ones are never pruned.
    Returns how many deliveries were deleted."""
    ids = await conn.fetch(
        """SELECT delivery_id FROM deliveries d
           WHERE ((status = 'sent' AND sent_at < $1)
                  OR (status = 'dead' AND next_attempt_at < $1))
             AND NOT EXISTS (SELECT 1 FROM deliveries f
                             WHERE f.follows = d.delivery_id
                               AND f.status NOT IN ('sent', 'dead'))
           ORDER BY delivery_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        older_than,
        limit,
    )
    chosen = [r["delivery_id"] for r in ids]
    if not chosen:
        return 0
    await conn.execute("DELETE FROM delivery_attempts WHERE delivery_id = ANY($1)", chosen)
    status = await conn.execute("DELETE FROM deliveries WHERE delivery_id = ANY($1)", chosen)
    return int(status.rsplit(" ", 1)[1])


# -- the delivery log, for the API ------------------------------------------------------


async def list_deliveries(
    conn: asyncpg.Connection,
    *,
    scope: list[str] | None,
    customer_id: str | None,
    status: str | None,
    channel: str | None,
    event_id: str | None,
    before: datetime | None,
    limit: int,
) -> tuple[list[asyncpg.Record], dict[str, list[asyncpg.Record]]]:
    """Newest first, within the caller's customers (`scope`, None = all); with each
    delivery's attempts."""
    rows = await conn.fetch(
        """SELECT delivery_id, event_id, event_type, customer_id, kind, channel, address, role,
                  recipient_name, status, attempts, message, jsonb_array_length(members)
                  AS grouped, created_at, next_attempt_at, sent_at, last_error
           FROM deliveries
           WHERE ($1::text[] IS NULL OR customer_id = ANY($1))
             AND ($2::text IS NULL OR customer_id = $2)
             AND ($3::text IS NULL OR status = $3)
             AND ($4::text IS NULL OR channel = $4)
             AND ($5::text IS NULL OR event_id = $5)
             AND ($6::timestamptz IS NULL OR created_at < $6)
           ORDER BY created_at DESC, delivery_id LIMIT $7""",
        scope,
        customer_id,
        status,
        channel,
        event_id,
        before,
        limit,
    )
    ids = [r["delivery_id"] for r in rows]
    attempts: dict[str, list[asyncpg.Record]] = {i: [] for i in ids}
    for a in await conn.fetch(
        "SELECT * FROM delivery_attempts WHERE delivery_id = ANY($1) ORDER BY attempt", ids
    ):
        attempts[a["delivery_id"]].append(a)
    return list(rows), attempts
