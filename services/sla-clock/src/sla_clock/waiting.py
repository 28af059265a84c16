"""Tickets that arrive before their customer's contract: kept, then clocked or blamed.

A ticket event for a customer with no contract yet is stored (its transition) and its
original record parked (`Tx.park`). When the contract arrives, every waiting ticket is
first replayed on its own (`blame`): a ticket whose replay fails is the failure's
cause, so its events are dead-lettered alone with their own bytes and reason, its log
is dropped (a fixed replay from the dead-letter topic re-adds it) and it is marked;
the contract applies and every other waiting ticket gets its clocks. Functions take
the caller's connection (in `Tx`) and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from msp_plumbing.consumer import Tx
from sla_clock.clock import replay
from sla_clock.contracts import ContractCache, TicketKey
from sla_clock.emissions import envelope_of
from sla_clock.service import load_logs
from sla_clock.transitions import Transition

log = logging.getLogger(__name__)

DEAD_LETTERED = "dead-lettered"
"""`tickets.no_clock_reason` prefix of a ticket whose waiting events failed."""


async def park_uncontracted(tx: Tx, *, entries: Sequence[tuple[str, str, Transition]]) -> None:
    """Park the records of this batch's ticket events whose customer has no contract."""
    customers = sorted({c for c, _, _ in entries})
    if not customers:
        return
    rows = await tx.conn.fetch(
        """SELECT c FROM unnest($1::text[]) AS c
           WHERE NOT EXISTS (SELECT 1 FROM contracts WHERE customer_id = c)""",
        customers,
    )
    without = {r["c"] for r in rows}
    await tx.park(t.event_id for c, _, t in entries if c in without and t.event_id in tx.records)


async def blame(
    tx: Tx, *, keys: Sequence[TicketKey], now: datetime, contracts: ContractCache
) -> set[TicketKey]:
    """Replay each waiting ticket `keys` alone; dead-letter the events of those that
    fail (returned) and release the parked records of those that succeed."""
    if not keys:
        return set()
    logs = await load_logs(tx.conn, keys)
    snapshots = await contracts.load(tx.conn, {c for c, _ in keys})
    failed: dict[TicketKey, str] = {}
    for key in keys:
        try:
            out = replay(
                logs.get(key, []),
                snapshots.get(key[0]),
                ticket_id=key[1],
                now=now,
                terminated_at=contracts.terminated_at(key[0]),
            )
            for emission in out.emissions:  # what recompute will publish must be valid
                envelope_of(emission, customer_id=key[0])
        except Exception as exc:  # any failure here is this ticket's, not the contract's
            failed[key] = f"{type(exc).__name__}: {exc}"
    applied = [t.event_id for k in keys if k not in failed for t in logs.get(k, [])]
    if applied:
        await tx.unpark(applied)
    for (customer_id, ticket_id), error in failed.items():
        event_ids = [t.event_id for t in logs.get((customer_id, ticket_id), [])]
        reason = (
            f"handler failed: ticket {ticket_id} could not be clocked once the contract of "
            f"{customer_id} arrived: {error}"
        )
        log.warning("waiting ticket dead-lettered: %s", reason)
        # events of this very batch were never parked: park them so they are sent too
        await tx.park(i for i in event_ids if i in tx.records)
        await tx.dead_letter_parked(event_ids, reason=reason)
        await _drop(tx, customer_id=customer_id, ticket_id=ticket_id, reason=reason)
    return set(failed)


async def _drop(tx: Tx, *, customer_id: str, ticket_id: str, reason: str) -> None:
    await tx.conn.execute(
        "DELETE FROM transitions WHERE customer_id = $1 AND ticket_id = $2",
        customer_id,
        ticket_id,
    )
    await tx.conn.execute(
        "UPDATE tickets SET no_clock_reason = $3 WHERE customer_id = $1 AND ticket_id = $2",
        customer_id,
        ticket_id,
        f"{DEAD_LETTERED}: {reason}"[:1000],
    )
