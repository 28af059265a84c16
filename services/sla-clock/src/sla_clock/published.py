"""The `published` table: what the SLA topic holds for each outcome statement
(`corrections.Said` per `corrections.Slot`). The caller owns the transaction, and
writes these rows in the same one as the events (outbox), so they are exactly what was
published."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from sla_clock.contracts import TicketKey
from sla_clock.corrections import Said, Slot


async def load_published(
    conn: asyncpg.Connection, keys: Sequence[TicketKey]
) -> dict[TicketKey, dict[Slot, Said]]:
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT p.* FROM published p
           JOIN unnest($1::text[], $2::text[]) AS k(c, tk)
             ON p.customer_id = k.c AND p.ticket_id = k.tk""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    said: dict[TicketKey, dict[Slot, Said]] = defaultdict(dict)
    for r in rows:
        slot = Slot(r["clock_id"], r["statement"], r["percent"], r["priority"])
        said[(r["customer_id"], r["ticket_id"])][slot] = Said(
            r["event_id"], r["at"], json.loads(r["identity"])
        )
    return said


async def save_published(
    conn: asyncpg.Connection, changes: Mapping[TicketKey, Mapping[Slot, Said]]
) -> None:
    columns: list[list[Any]] = [[] for _ in range(9)]
    for (customer_id, ticket_id), slots in changes.items():
        for slot, said in slots.items():
            row = (
                customer_id,
                ticket_id,
                slot.clock_id,
                slot.statement,
                slot.percent,
                slot.priority,
                said.event_id,
                said.at,
                json.dumps(dict(said.identity), sort_keys=True),
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    if not columns[0]:
        return
    await conn.execute(
        """INSERT INTO published (customer_id, ticket_id, clock_id, statement, percent,
                                  priority, event_id, at, identity)
           SELECT c, tk, cl, s, pc, pr, e, a, i::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                       $6::text[], $7::text[], $8::timestamptz[], $9::text[])
                AS r(c, tk, cl, s, pc, pr, e, a, i)
           ON CONFLICT (customer_id, ticket_id, clock_id, statement, percent, priority)
           DO UPDATE SET event_id = EXCLUDED.event_id, at = EXCLUDED.at,
                         identity = EXCLUDED.identity""",
        *columns,
    )
