"""Billing state in Postgres: loading and saving what the consumer and the API work
on. Keyword-only helpers on a connection; the CALLER owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import asyncpg

from billing.classification import ChangeOrder
from billing.contracts import ContractState
from billing.included_hours import Settlement
from msp_events.types.billing import LineItemRecorded
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.tickets import TimeLogged

# Parsed contracts by the event id that carried them: a customer's history is parsed
# once per change, not once per batch (a snapshot can hold many versions).
_CONTRACTS: dict[str, ContractState] = {}
_CONTRACT_CACHE_MAX = 20_000


async def save_contract(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    data: ContractSnapshot | ContractTerminated,
    event_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO contracts (customer_id, contract_id, payload, event_type, event_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer_id) DO UPDATE SET contract_id = EXCLUDED.contract_id,
               payload = EXCLUDED.payload, event_type = EXCLUDED.event_type,
               event_id = EXCLUDED.event_id, updated_at = now()""",
        customer_id,
        data.contract_id,
        data.model_dump_json(),
        data.event_type,
        event_id,
    )


def _parse_contract(event_type: str, payload: str) -> ContractState:
    cls = ContractTerminated if event_type == ContractTerminated.event_type else ContractSnapshot
    return ContractState.from_event(cls.model_validate_json(payload))


async def load_contracts(
    conn: asyncpg.Connection, *, customer_ids: Iterable[str] | None = None
) -> dict[str, ContractState]:
    """Contracts by customer (all customers when `customer_ids` is None)."""
    if customer_ids is None:
        rows = await conn.fetch("SELECT customer_id, event_id, event_type FROM contracts")
    else:
        rows = await conn.fetch(
            "SELECT customer_id, event_id, event_type FROM contracts WHERE customer_id = ANY($1)",
            list(customer_ids),
        )
    missing = [r["customer_id"] for r in rows if r["event_id"] not in _CONTRACTS]
    if missing:
        if len(_CONTRACTS) > _CONTRACT_CACHE_MAX:
            _CONTRACTS.clear()
        for r in await conn.fetch(
            "SELECT event_id, event_type, payload::text AS payload FROM contracts "
            "WHERE customer_id = ANY($1)",
            missing,
        ):
            _CONTRACTS[r["event_id"]] = _parse_contract(r["event_type"], r["payload"])
    return {r["customer_id"]: _CONTRACTS[r["event_id"]] for r in rows}


async def save_change_order(
    conn: asyncpg.Connection, *, customer_id: str, order: ChangeOrder, event_time: dt.datetime
) -> None:
    await conn.execute(
        """INSERT INTO change_orders (customer_id, change_order_id, approved, ticket_ids,
               work_categories, approved_at, valid_until, note, event_time, budget_minutes,
               budget_amount)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (customer_id, change_order_id) DO UPDATE SET
               approved = EXCLUDED.approved,
               ticket_ids = CASE WHEN EXCLUDED.approved THEN EXCLUDED.ticket_ids
                                 ELSE change_orders.ticket_ids END,
               work_categories = CASE WHEN EXCLUDED.approved THEN EXCLUDED.work_categories
                                      ELSE change_orders.work_categories END,
               budget_minutes = CASE WHEN EXCLUDED.approved THEN EXCLUDED.budget_minutes
                                     ELSE change_orders.budget_minutes END,
               budget_amount = CASE WHEN EXCLUDED.approved THEN EXCLUDED.budget_amount
                                    ELSE change_orders.budget_amount END,
               approved_at = COALESCE(EXCLUDED.approved_at, change_orders.approved_at),
               valid_until = EXCLUDED.valid_until, note = EXCLUDED.note,
               event_time = EXCLUDED.event_time""",
        customer_id,
        order.change_order_id,
        order.approved,
        sorted(order.ticket_ids),
        sorted(order.work_categories),
        order.approved_at,
        order.valid_until,
        order.note,
        event_time,
        order.budget_minutes,
        order.budget_amount,
    )


async def save_overrun_approval(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    change_order_id: str,
    approved_at: dt.datetime,
    reason: str,
    event_time: dt.datetime,
) -> None:
    """Record an overrun approval (the latest wins). A change order not known yet gets
    a row that authorises nothing until its approval arrives (which keeps this)."""
    await conn.execute(
        """INSERT INTO change_orders (customer_id, change_order_id, approved, event_time,
               overrun_approved_at, overrun_reason, overrun_event_time)
           VALUES ($1, $2, false, $5, $3, $4, $5)
           ON CONFLICT (customer_id, change_order_id) DO UPDATE SET
               overrun_approved_at = GREATEST(EXCLUDED.overrun_approved_at,
                                              change_orders.overrun_approved_at),
               overrun_reason = EXCLUDED.overrun_reason,
               overrun_event_time = EXCLUDED.overrun_event_time""",
        customer_id,
        change_order_id,
        approved_at,
        reason,
        event_time,
    )


async def load_change_orders(
    conn: asyncpg.Connection, *, customer_ids: Iterable[str]
) -> dict[str, list[ChangeOrder]]:
    rows = await conn.fetch(
        """SELECT * FROM change_orders WHERE customer_id = ANY($1)
           ORDER BY customer_id, change_order_id""",
        list(customer_ids),
    )
    found: dict[str, list[ChangeOrder]] = {}
    for r in rows:
        found.setdefault(r["customer_id"], []).append(
            ChangeOrder(
                change_order_id=r["change_order_id"],
                approved=r["approved"],
                ticket_ids=frozenset(r["ticket_ids"]),
                work_categories=frozenset(r["work_categories"]),
                approved_at=r["approved_at"],
                valid_until=r["valid_until"],
                note=r["note"],
                decided_at=r["event_time"],
                budget_minutes=r["budget_minutes"],
                budget_amount=r["budget_amount"],
                overrun_approved_at=r["overrun_approved_at"],
                overrun_decided_at=r["overrun_event_time"],
                overrun_reason=r["overrun_reason"] or "",
            )
        )
    return found


async def budget_used(
    conn: asyncpg.Connection, *, customer_id: str, change_order_id: str
) -> tuple[int, Decimal]:
    """Minutes worked and amount billed so far under a change order (its project lines)."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(minutes_worked), 0) AS minutes, coalesce(sum(amount), 0) AS amount
           FROM line_items WHERE customer_id = $1 AND change_order_id = $2
             AND classification = 'project'""",
        customer_id,
        change_order_id,
    )
    assert row is not None
    return int(row["minutes"]), Decimal(row["amount"])


async def held_over_budget(
    conn: asyncpg.Connection, *, customer_id: str, change_order_id: str
) -> list[asyncpg.Record]:
    """Uninvoiced work held beyond a change order's budget, by entry and segment."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT l.line_item_id, l.entry_id, l.segment, l.source_event_id, l.work_category,
                  l.revision, l.payload::text AS payload,
                  (SELECT max(x.segment) FROM line_items x WHERE x.customer_id = l.customer_id
                     AND x.entry_id = l.entry_id AND x.classification = 'project')
                   AS last_billed_segment
           FROM line_items l WHERE l.customer_id = $1 AND l.change_order_id = $2
             AND l.classification = 'scope_creep' AND l.rule = 'change_order_budget_exceeded'
             AND l.invoice_id IS NULL
           ORDER BY l.entry_id, l.segment FOR UPDATE OF l""",
        customer_id,
        change_order_id,
    )
    return rows


async def save_tickets(
    conn: asyncpg.Connection, *, rows: Sequence[tuple[str, str, str, str]]
) -> None:
    """(customer_id, ticket_id, title, category) from TicketCreated."""
    if rows:
        await conn.execute(
            """INSERT INTO tickets (customer_id, ticket_id, title, category)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
               ON CONFLICT (customer_id, ticket_id) DO UPDATE
               SET title = EXCLUDED.title, category = EXCLUDED.category""",
            *map(list, zip(*rows, strict=True)),
        )


async def ticket_minutes(
    conn: asyncpg.Connection, *, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    pairs = list(set(keys))
    if not pairs:
        return {}
    rows = await conn.fetch(
        """SELECT t.customer_id, t.ticket_id, t.minutes_logged FROM tickets t
           JOIN unnest($1::text[], $2::text[]) AS k(c, i) ON t.customer_id = k.c
                AND t.ticket_id = k.i""",
        [c for c, _ in pairs],
        [t for _, t in pairs],
    )
    return {(r["customer_id"], r["ticket_id"]): r["minutes_logged"] for r in rows}


async def set_ticket_minutes(
    conn: asyncpg.Connection, *, minutes: dict[tuple[str, str], int]
) -> None:
    if minutes:
        keys = list(minutes)
        await conn.execute(
            """INSERT INTO tickets (customer_id, ticket_id, minutes_logged)
               SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
               ON CONFLICT (customer_id, ticket_id) DO UPDATE
               SET minutes_logged = EXCLUDED.minutes_logged""",
            [c for c, _ in keys],
            [t for _, t in keys],
            [minutes[k] for k in keys],
        )


@dataclass(frozen=True)
class Entry:
    customer_id: str
    event_id: str
    event_time: dt.datetime
    data: TimeLogged


async def insert_entries(
    conn: asyncpg.Connection, *, entries: Sequence[Entry], pending: Sequence[bool]
) -> set[tuple[str, str]]:
    """Store entries; returns the (customer_id, entry_id) that were new (an entry id
    seen before under another event id is a re-send, ignored)."""
    if not entries:
        return set()
    rows = await conn.fetch(
        """INSERT INTO entries (customer_id, entry_id, event_id, event_time, payload, pending)
           SELECT c, e, i, t, p::jsonb, w FROM unnest($1::text[], $2::text[], $3::text[],
                $4::timestamptz[], $5::text[], $6::bool[]) WITH ORDINALITY AS r(c, e, i, t, p, w, n)
           ORDER BY n
           ON CONFLICT (customer_id, entry_id) DO NOTHING RETURNING customer_id, entry_id""",
        [e.customer_id for e in entries],
        [e.data.entry_id for e in entries],
        [e.event_id for e in entries],
        [e.event_time for e in entries],
        [e.data.model_dump_json() for e in entries],
        list(pending),
    )
    return {(r["customer_id"], r["entry_id"]) for r in rows}


def _entry(row: asyncpg.Record) -> Entry:
    return Entry(
        row["customer_id"],
        row["event_id"],
        row["event_time"],
        TimeLogged.model_validate_json(row["payload"]),
    )


async def take_pending_entries(
    conn: asyncpg.Connection, *, customer_ids: Iterable[str]
) -> list[Entry]:
    """Entries that waited for a contract, in arrival order; no longer pending."""
    rows = await conn.fetch(
        """UPDATE entries SET pending = false WHERE pending AND customer_id = ANY($1)
           RETURNING seq, customer_id, event_id, event_time, payload::text AS payload""",
        list(customer_ids),
    )
    return [_entry(r) for r in sorted(rows, key=lambda r: r["seq"])]


async def forget_entry(conn: asyncpg.Connection, *, customer_id: str, entry_id: str) -> None:
    """Drop an entry that was dead-lettered, so its fixed replay is accepted as new."""
    await conn.execute(
        "DELETE FROM entries WHERE customer_id = $1 AND entry_id = $2", customer_id, entry_id
    )


async def load_entry(conn: asyncpg.Connection, *, customer_id: str, entry_id: str) -> Entry:
    row = await conn.fetchrow(
        """SELECT customer_id, event_id, event_time, payload::text AS payload FROM entries
           WHERE customer_id = $1 AND entry_id = $2""",
        customer_id,
        entry_id,
    )
    assert row is not None, f"entry {entry_id} of {customer_id} is not stored"
    return _entry(row)


async def last_closed_periods(
    conn: asyncpg.Connection, *, customer_ids: Iterable[str]
) -> dict[str, str]:
    rows = await conn.fetch(
        """SELECT customer_id, max(period) AS period FROM closed_periods
           WHERE customer_id = ANY($1) GROUP BY customer_id""",
        list(customer_ids),
    )
    return {r["customer_id"]: r["period"] for r in rows}


class LineRow(NamedTuple):
    """A `line_items` row to write (a tuple: one or two per entry on the hot path)."""

    customer_id: str
    item: LineItemRecorded
    source_event_id: str
    segment: int
    work_category: str
    revision: int
    payload: str | None = None
    """`item`'s JSON when already written (`outputs.Sink.line_item` returns it)."""


async def save_line_items(conn: asyncpg.Connection, *, rows: Sequence[LineRow]) -> None:
    """Insert or replace line items (a replacement is a new revision, not invoiced).

    The item's own columns are read by Postgres from its JSON payload (which is stored
    anyway): six parameter arrays instead of twenty, which was a large part of the
    consumer's CPU (asyncpg encodes every array element in Python)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO line_items (line_item_id, customer_id, entry_id, source_event_id,
               segment, ticket_id, work_category, classification, rule, reason, work_date,
               period, prior_period, minutes_worked, minutes_billed, currency, amount,
               change_order_id, revision, payload)
           SELECT p->>'line_item_id', c, p->>'entry_id', s, g, p->>'ticket_id', w,
               p->>'classification', p->>'rule', p->>'reason', (p->>'work_date')::date,
               p->>'period', (p->>'prior_period')::bool, (p->>'minutes_worked')::int,
               (p->>'minutes_billed')::int, p->>'currency', (p->>'amount')::numeric,
               p->>'change_order_id', r, p
           FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[],
               $6::jsonb[]) AS u(c, s, g, w, r, p)
           ON CONFLICT (line_item_id) DO UPDATE SET
               classification = EXCLUDED.classification, rule = EXCLUDED.rule,
               reason = EXCLUDED.reason, work_date = EXCLUDED.work_date,
               period = EXCLUDED.period, prior_period = EXCLUDED.prior_period,
               minutes_worked = EXCLUDED.minutes_worked,
               minutes_billed = EXCLUDED.minutes_billed, currency = EXCLUDED.currency,
               amount = EXCLUDED.amount, change_order_id = EXCLUDED.change_order_id,
               revision = EXCLUDED.revision, payload = EXCLUDED.payload, invoice_id = NULL""",
        [r.customer_id for r in rows],
        [r.source_event_id for r in rows],
        [r.segment for r in rows],
        [r.work_category for r in rows],
        [r.revision for r in rows],
        [r.item.model_dump_json() if r.payload is None else r.payload for r in rows],
    )


async def entry_line_items(
    conn: asyncpg.Connection, *, customer_id: str, entry_id: str
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT line_item_id, segment, classification, rule, revision, invoice_id,
                  work_category, payload::text AS payload
           FROM line_items WHERE customer_id = $1 AND entry_id = $2
           ORDER BY segment FOR UPDATE""",
        customer_id,
        entry_id,
    )
    return rows


def parse_line_item(payload: str) -> LineItemRecorded:
    return LineItemRecorded.model_validate_json(payload)


def money(value: Decimal) -> str:
    return format(value, "f")


# Consumer batches and API changes share this lock; the invoice run takes it
# exclusively, so no line item can be recorded into a period while it is being closed
# (it would be left behind, never invoiced).
PERIOD_LOCK = 0x62696C6C  # "bill"


async def lock_periods(conn: asyncpg.Connection, *, exclusive: bool = False) -> None:
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {fn}($1)", PERIOD_LOCK)


async def covered_lines(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], period: str
) -> list[asyncpg.Record]:
    """The period's uninvoiced covered line items, in the order the work was done (the
    included-hours rule consumes the allowance in this order), with the next free
    segment index of each line's entry."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT l.customer_id, l.segment, l.source_event_id, l.work_category, l.revision,
                  l.payload::text AS payload,
                  (SELECT max(x.segment) + 1 FROM line_items x
                   WHERE x.customer_id = l.customer_id AND x.entry_id = l.entry_id)
                   AS next_segment
           FROM line_items l JOIN entries e USING (customer_id, entry_id)
           WHERE l.customer_id = ANY($1) AND l.period = $2 AND l.classification = 'covered'
             AND l.invoice_id IS NULL
           ORDER BY l.customer_id, l.work_date, (e.payload->>'started_at')::timestamptz,
                    l.entry_id, l.segment FOR UPDATE OF l""",
        list(customer_ids),
        period,
    )
    return rows


async def rollovers(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], period: str
) -> dict[str, int]:
    """Minutes each customer carried out of `period` (absent: none)."""
    rows = await conn.fetch(
        """SELECT customer_id, rollover_out FROM included_hours
           WHERE customer_id = ANY($1) AND period = $2""",
        list(customer_ids),
        period,
    )
    return {r["customer_id"]: r["rollover_out"] for r in rows}


async def save_included_hours(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    period: str,
    settlement: Settlement,
    at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO included_hours (customer_id, period, allowance_minutes, rollover_in,
               used_minutes, overage_minutes, rollover_out, settled_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        customer_id,
        period,
        settlement.allowance,
        settlement.rollover_in,
        settlement.used,
        settlement.overage,
        settlement.rollover_out,
        at,
    )


async def included_hours(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], period: str
) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM included_hours WHERE customer_id = ANY($1) AND period = $2",
        list(customer_ids),
        period,
    )
    return {r["customer_id"]: r for r in rows}
