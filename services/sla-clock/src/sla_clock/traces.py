"""The trace each ticket is in, for the events the deadline scheduler fires.

Events computed while a batch is consumed continue the trace of their ticket's event
(`consumers.py`, `Tx.emit`). A warning or breach fired later, on time, has no event in
hand: it continues the trace of the ticket's latest consumed event, kept here. Both
functions run inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from msp_events import Envelope
from msp_events.tracing import TraceContext, continue_trace


async def store_ticket_traces(
    conn: asyncpg.Connection, *, traced: dict[tuple[str, str], Envelope]
) -> None:
    """Remember the trace of each ticket's latest event of this batch (those with one)."""
    rows = [(c, t, e.traceparent, e.tracestate) for (c, t), e in traced.items() if e.traceparent]
    if not rows:
        return
    await conn.execute(
        """INSERT INTO ticket_traces (customer_id, ticket_id, traceparent, tracestate)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT (customer_id, ticket_id) DO UPDATE
           SET traceparent = EXCLUDED.traceparent, tracestate = EXCLUDED.tracestate""",
        *(list(column) for column in zip(*rows, strict=True)),
    )


async def in_ticket_traces(conn: asyncpg.Connection, events: Sequence[Envelope]) -> list[Envelope]:
    """`events` (SLA events, each about a ticket) in their ticket's trace, if known."""
    keys = {(e.customer_id, str(getattr(e.data, "ticket_id", ""))) for e in events}
    if not keys:
        return list(events)
    rows = await conn.fetch(
        """SELECT t.* FROM ticket_traces t
           JOIN unnest($1::text[], $2::text[]) AS k(c, tk)
             ON (t.customer_id, t.ticket_id) = (k.c, k.tk)""",
        *(list(column) for column in zip(*keys, strict=True)),
    )
    traces = {
        (r["customer_id"], r["ticket_id"]): TraceContext.parse(r["traceparent"], r["tracestate"])
        for r in rows
    }
    return [
        continue_trace(e, traces.get((e.customer_id, str(getattr(e.data, "ticket_id", "")))))
        for e in events
    ]
