"""sla-clock's state in Postgres. Every function takes the caller's connection and
never commits: the consumer and the scheduler own their transactions.

The core is `recompute`: load the tickets' transition logs, replay each one
(`clock.replay`), replace their clock and deadline rows, and return the SLA events not
emitted before (the `emitted` table makes a replay a no-op)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from msp_events import Envelope
from msp_events.tracing import TraceContext
from msp_events.types.contracts import ContractVersion
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaOutcomeCorrected, SlaWarning
from msp_events.types.tickets import (
    TicketClosed,
    TicketCommentAdded,
    TicketCreated,
    TicketPriorityChanged,
    TicketReopened,
    TicketResolved,
    TicketStatusChanged,
)
from sla_clock import metrics
from sla_clock.calendar import business_time_between, calendar_for
from sla_clock.clock import Clock, TicketOutcome, replay
from sla_clock.contracts import ContractCache, TicketKey
from sla_clock.corrections import Said, Slot, reconcile
from sla_clock.emissions import Emission, built_envelope
from sla_clock.models import ClockRead, PauseRead
from sla_clock.published import load_published, save_published
from sla_clock.thresholds import plan_escalation
from sla_clock.transitions import Transition

YIELD_EVERY = 250  # tickets replayed between yields to the event loop


# -- incidents ---------------------------------------------------------------------------


async def store_incidents(conn: asyncpg.Connection, *, events: Sequence[Envelope]) -> None:
    """Store a batch's `IncidentOpened` / `IncidentResolved` events (in their order), two
    statements whatever their number. Per incident, the batch's events are folded into
    the row they would leave one by one: an open sets when it opened, its scope and
    parent (the last open wins); a resolve sets when it resolved (the last one wins). A
    resolve may arrive before its open (another partition order): an incident first
    seen resolved keeps the outage start it implies (its first resolve's), scope
    `customer`, until the open arrives."""
    opened: dict[tuple[str, str], list[Any]] = {}
    resolved_only: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        data = event.data
        key = (event.customer_id, str(getattr(data, "incident_id", "")))
        if isinstance(data, IncidentOpened):
            first = resolved_only.pop(key, None)
            resolved_at = first[1] if first else opened.get(key, [None, None])[1]
            opened[key] = [data.opened_at, resolved_at, data.parent_incident_id, data.scope]
        elif isinstance(data, IncidentResolved):
            if key in opened:
                opened[key][1] = data.resolved_at
            elif key in resolved_only:
                resolved_only[key][1] = data.resolved_at
            else:
                start = data.resolved_at - timedelta(seconds=data.duration_seconds)
                resolved_only[key] = [start, data.resolved_at]
    if opened:
        await conn.execute(
            """INSERT INTO incidents (customer_id, incident_id, opened_at, resolved_at,
                                      parent_incident_id, scope)
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[],
                                    $4::timestamptz[], $5::text[], $6::text[])
               ON CONFLICT (customer_id, incident_id) DO UPDATE
               SET opened_at = EXCLUDED.opened_at, scope = EXCLUDED.scope,
                   parent_incident_id = EXCLUDED.parent_incident_id,
                   resolved_at = coalesce(EXCLUDED.resolved_at, incidents.resolved_at)""",
            *_columns([(*key, *row) for key, row in opened.items()], 6),
        )
    if resolved_only:
        await conn.execute(
            """INSERT INTO incidents (customer_id, incident_id, opened_at, resolved_at, scope)
               SELECT c, i, o, r, 'customer'
               FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
                    AS k(c, i, o, r)
               ON CONFLICT (customer_id, incident_id) DO UPDATE
               SET resolved_at = EXCLUDED.resolved_at""",
            *_columns([(*key, *row) for key, row in resolved_only.items()], 4),
        )


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


# -- tickets -----------------------------------------------------------------------------


def transition_of(event: Envelope) -> Transition | None:
    """The log entry a ticket event contributes (None: not relevant to SLA clocks)."""
    d, eid = event.data, event.id
    if isinstance(d, TicketCreated):
        return Transition("created", d.opened_at, eid, priority=d.priority, device_id=d.device_id)
    if isinstance(d, TicketPriorityChanged):
        return Transition("priority", d.changed_at, eid, priority=d.priority)
    if isinstance(d, TicketStatusChanged):
        return Transition("status", d.changed_at, eid, status=d.status)
    if isinstance(d, TicketCommentAdded):
        reply = d.public and d.author_kind == "agent"
        return Transition("comment", d.added_at, eid, agent_reply=reply)
    if isinstance(d, TicketResolved):
        return Transition("resolved", d.resolved_at, eid)
    if isinstance(d, TicketClosed):
        return Transition("closed", d.closed_at, eid)
    if isinstance(d, TicketReopened):
        return Transition("reopened", d.reopened_at, eid)
    return None


async def store_transitions(
    conn: asyncpg.Connection, *, entries: Sequence[tuple[str, str, Transition]]
) -> None:
    if not entries:
        return
    columns: list[list[Any]] = [[] for _ in range(9)]
    for c, tk, t in entries:
        row = (c, tk, t.event_id, t.kind, t.at, t.priority, t.status, t.agent_reply, t.device_id)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    await conn.execute(
        """INSERT INTO transitions (customer_id, ticket_id, event_id, kind, at, priority,
                                    status, agent_reply, device_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                $5::timestamptz[], $6::text[], $7::text[], $8::bool[],
                                $9::text[])
           ON CONFLICT DO NOTHING""",
        *columns,
    )


async def load_logs(
    conn: asyncpg.Connection, keys: Sequence[TicketKey]
) -> dict[TicketKey, list[Transition]]:
    rows = await conn.fetch(
        """SELECT t.* FROM transitions t
           JOIN unnest($1::text[], $2::text[]) AS k(c, tk)
             ON t.customer_id = k.c AND t.ticket_id = k.tk""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    logs: dict[TicketKey, list[Transition]] = defaultdict(list)
    for r in rows:
        logs[(r["customer_id"], r["ticket_id"])].append(
            Transition(
                r["kind"],
                r["at"],
                r["event_id"],
                priority=r["priority"],
                status=r["status"],
                agent_reply=r["agent_reply"],
                device_id=r["device_id"],
            )
        )
    return logs


def _clock_row(customer_id: str, clock: Clock, now: datetime) -> tuple[Any, ...]:
    last = clock.segments[-1]
    settled = last.end or last.start  # elapsed up to here; a running clock adds the rest live
    breached = clock.breached_at()
    pauses = [
        {"start": p.start.isoformat(), "end": p.end and p.end.isoformat(), "status": p.status}
        for p in clock.pauses
    ]
    return (
        customer_id,
        clock.ticket_id,
        clock.metric,
        clock.cycle,
        clock.clock_id,
        clock.priority,
        clock.version.tier,
        clock.contract_id,
        clock.version.version,
        clock.coverage,
        clock.target_s,
        clock.state,
        clock.started_at,
        clock.stopped_at,
        clock.stop_reason,
        clock.elapsed(settled),
        last.start if clock.state == "running" else None,
        clock.instant_of(clock.target_s) if clock.state in ("running", "stopped") else None,
        breached if breached is not None and breached <= now else None,
        json.dumps(pauses) if pauses else "[]",
        clock.version.timezone,
    )


CLOCK_COLUMNS = [
    "customer_id",
    "ticket_id",
    "metric",
    "cycle",
    "clock_id",
    "priority",
    "tier",
    "contract_id",
    "contract_version",
    "coverage",
    "target_seconds",
    "state",
    "started_at",
    "stopped_at",
    "stop_reason",
    "elapsed",
    "running_since",
    "due_at",
    "breached_at",
    "pauses",
    "timezone",
]
DEADLINE_COLUMNS = [
    "customer_id",
    "ticket_id",
    "metric",
    "cycle",
    "kind",
    "percent",
    "due_at",
    "escalation_level",
    "roles",
]


async def recompute(
    conn: asyncpg.Connection,
    *,
    keys: Iterable[TicketKey],
    now: datetime,
    contracts: ContractCache,
    causes: Mapping[TicketKey, Sequence[str]] | None = None,
    parents: Mapping[TicketKey, TraceContext] | None = None,
) -> list[Envelope]:
    """Replay the tickets `keys` at `now`, replace their clocks and deadlines, and
    return the SLA events they produced that were never emitted before, in time order,
    with the corrections of outcomes already published that the replay disproves
    (`corrections.reconcile`; `causes`: the ticket events that caused the replay;
    `parents`: the trace each ticket's events continue)."""
    keys = sorted(set(keys))
    if not keys:
        return []
    logs = await load_logs(conn, keys)
    snapshots = await contracts.load(conn, {c for c, _ in keys})
    outcomes: dict[TicketKey, TicketOutcome] = {}
    for n, key in enumerate(keys, 1):
        outcomes[key] = replay(
            logs.get(key, []),
            snapshots.get(key[0]),
            ticket_id=key[1],
            now=now,
            terminated_at=contracts.terminated_at(key[0]),
        )
        if n % YIELD_EVERY == 0:
            # a big batch replays for a while: let the scheduler (same event loop) fire
            # what is due meanwhile, so breach-emission lag does not grow with batch size
            await asyncio.sleep(0)
    customers, tickets = [k[0] for k in keys], [k[1] for k in keys]
    # one round trip for both tables (a batch's round trips add up on a loaded machine)
    await conn.execute(
        """WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(c, tk)),
                gone AS (DELETE FROM clocks t USING k
                         WHERE t.customer_id = k.c AND t.ticket_id = k.tk)
           DELETE FROM deadlines t USING k WHERE t.customer_id = k.c AND t.ticket_id = k.tk""",
        customers,
        tickets,
    )
    # (after the delete above: it waits for a scheduler round holding these tickets'
    # deadlines, so what that round published is read here)
    published = await load_published(conn, keys)
    changed: dict[TicketKey, dict[Slot, Said]] = {}
    clock_rows: list[tuple[Any, ...]] = []
    deadline_rows: list[tuple[Any, ...]] = []
    ticket_rows: list[tuple[Any, ...]] = []
    candidates: list[tuple[str, str, Emission]] = []
    for (customer_id, ticket_id), out in outcomes.items():
        version = out.contract_version
        ticket_rows.append(
            (
                customer_id,
                ticket_id,
                out.priority,
                out.status,
                out.open,
                out.opened_at,
                version.tier if version else None,
                snapshots[customer_id].contract_id if version else None,
                version.version if version else None,
                out.no_clock_reason,
            )
        )
        clock_rows.extend(_clock_row(customer_id, c, now) for c in out.clocks)
        if version is not None:
            for (metric, cycle), future in out.deadlines.items():
                for d in future:
                    level, roles = plan_escalation(version.escalation_plan, d.percent)
                    row = (customer_id, ticket_id, metric, cycle, d.kind, d.percent, d.due_at)
                    deadline_rows.append((*row, level, roles))
        tier = version.tier if version else ""
        settled = reconcile(
            published.get((customer_id, ticket_id), {}),
            out.emissions,
            now=now,
            complete=True,
            identities={c.clock_id: c.identity() for c in out.clocks},
            because_of=(causes or {}).get((customer_id, ticket_id), ()),
        )
        if settled.said:
            changed[(customer_id, ticket_id)] = settled.said
        candidates.extend((customer_id, tier, e) for e in settled.publish)
    if clock_rows:
        await conn.copy_records_to_table("clocks", records=clock_rows, columns=CLOCK_COLUMNS)
    if deadline_rows:
        await conn.copy_records_to_table(
            "deadlines", records=deadline_rows, columns=DEADLINE_COLUMNS
        )
    await conn.execute(
        """INSERT INTO tickets (customer_id, ticket_id, priority, status, open, opened_at, tier,
                                contract_id, contract_version, no_clock_reason)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[],
                                $6::timestamptz[], $7::text[], $8::text[], $9::int[],
                                $10::text[])
           ON CONFLICT (customer_id, ticket_id) DO UPDATE
           SET priority = EXCLUDED.priority, status = EXCLUDED.status, open = EXCLUDED.open,
               opened_at = EXCLUDED.opened_at, tier = EXCLUDED.tier,
               contract_id = EXCLUDED.contract_id, contract_version = EXCLUDED.contract_version,
               no_clock_reason = EXCLUDED.no_clock_reason""",
        *(list(col) for col in zip(*ticket_rows, strict=True)),
    )
    await save_published(conn, changed)
    return await fresh_events(conn, candidates, parents=parents)


async def settle_fired(
    conn: asyncpg.Connection,
    fired: Sequence[tuple[str, str, Emission]],
    *,
    now: datetime,
    identities: Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, str, Emission]]:
    """The scheduler's (customer, tier, emission) deadlines fired at `now`, as what to
    publish: each one's original event the first time its statement is made, or the
    correction of a statement a replay had withdrawn (`corrections.reconcile`, partial:
    only the fired statements are compared). Records what is published."""
    by_ticket: dict[TicketKey, list[tuple[str, Emission]]] = defaultdict(list)
    for customer_id, tier, emission in fired:
        ticket_id = str(getattr(emission.data, "ticket_id", ""))
        by_ticket[(customer_id, ticket_id)].append((tier, emission))
    published = await load_published(conn, sorted(by_ticket))
    changed: dict[TicketKey, dict[Slot, Said]] = {}
    out: list[tuple[str, str, Emission]] = []
    for key, items in by_ticket.items():
        settled = reconcile(
            published.get(key, {}),
            [e for _, e in items],
            now=now,
            complete=False,
            identities=identities,
            because_of=(),
        )
        if settled.said:
            changed[key] = settled.said
        out.extend((key[0], items[0][0], e) for e in settled.publish)
    await save_published(conn, changed)
    return out


async def fresh_events(
    conn: asyncpg.Connection,
    candidates: Sequence[tuple[str, str, Emission]],
    *,
    parents: Mapping[TicketKey, TraceContext] | None = None,
) -> list[Envelope]:
    """Envelopes for the (customer, tier, emission) candidates whose ids were never
    emitted (and mark them emitted), in the trace of their ticket's `parents` entry.
    Counts warnings and breaches by priority and tier (inside the transaction: a
    retried batch may count twice)."""
    if not candidates:
        return []
    fresh = await first_emissions(conn, [e.event_id for _, _, e in candidates])
    events = []
    for customer_id, tier, e in sorted(candidates, key=lambda c: c[2].at):
        if e.event_id not in fresh:
            continue
        fresh.discard(e.event_id)
        data = e.data
        if isinstance(data, SlaBreached):
            metrics.BREACHES.labels(data.priority, tier).inc()
        elif isinstance(data, SlaOutcomeCorrected):
            metrics.CORRECTIONS.labels(data.statement).inc()
        elif isinstance(data, SlaWarning):
            metrics.WARNINGS.labels(data.priority, tier, str(data.threshold_percent)).inc()
        elif isinstance(data, SlaEscalated):
            metrics.ESCALATIONS.labels(data.priority, tier, str(data.threshold_percent)).inc()
        parent = (
            parents.get((customer_id, str(getattr(data, "ticket_id", "")))) if parents else None
        )
        events.append(built_envelope(e, customer_id=customer_id, parent=parent))
    return events


async def first_emissions(conn: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    """The ids of `event_ids` never emitted before, now marked emitted (the `emitted`
    table: a replay or a retried round emits nothing twice)."""
    rows = await conn.fetch(
        """INSERT INTO emitted (event_id) SELECT unnest($1::text[])
           ON CONFLICT DO NOTHING RETURNING event_id""",
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


# -- reading clocks (the ticket API and the report share this) ---------------------------


def clock_view(row: asyncpg.Record, version: ContractVersion | None, now: datetime) -> ClockRead:
    """A clock row as of `now`: a running clock adds the business time since it last
    started running, on its current coverage."""
    elapsed: timedelta = row["elapsed"]
    due, breached = row["due_at"], row["breached_at"]
    if row["state"] == "running" and version is not None and now > row["running_since"]:
        cal = calendar_for(version, row["coverage"])
        elapsed += business_time_between(cal, row["running_since"], now)
        if breached is None and due is not None and due <= now:
            breached = due
    if row["state"] == "cancelled":
        outcome = "cancelled"
    elif breached is not None:
        outcome = "breached"
    elif row["state"] == "stopped":
        outcome = "met"
    else:
        outcome = "pending"
    elapsed_s = int(elapsed.total_seconds())
    return ClockRead(
        clock_id=row["clock_id"],
        ticket_id=row["ticket_id"],
        metric=row["metric"],
        cycle=row["cycle"],
        priority=row["priority"],
        tier=row["tier"],
        state=row["state"],
        outcome=outcome,
        coverage=row["coverage"],
        target_business_seconds=row["target_seconds"],
        elapsed_business_seconds=elapsed_s,
        remaining_business_seconds=row["target_seconds"] - elapsed_s,
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
        due_at=due,
        breached_at=breached,
        contract_id=row["contract_id"],
        contract_version=row["contract_version"],
        pauses=[PauseRead.model_validate(p) for p in json.loads(row["pauses"])],
    )


async def clock_views(
    conn: asyncpg.Connection,
    *,
    rows: Sequence[asyncpg.Record],
    now: datetime,
    contracts: ContractCache,
) -> list[ClockRead]:
    snapshots = await contracts.load(conn, {r["customer_id"] for r in rows})
    views = []
    for r in rows:
        snap = snapshots.get(r["customer_id"])
        version = snap.versions[r["contract_version"] - 1] if snap else None
        views.append(clock_view(r, version, now))
    return views
