"""sla-clock's copy of the contracts (from the compacted contracts topic): the latest
snapshot per customer, with every version, and a per-process cache of the parsed
snapshots. Functions take the caller's connection and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from msp_events.types.contracts import ContractSnapshot, ContractTerminated

TicketKey = tuple[str, str]  # (customer_id, ticket_id)


class ContractCache:
    """Parsed snapshots per customer, re-parsed only when the row's revision changes
    (revisions come from a sequence, so a rolled-back write can never alias)."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[int, ContractSnapshot]] = {}
        self._ended: dict[str, datetime] = {}

    def terminated_at(self, customer_id: str) -> datetime | None:
        """When the customer's contract ends (as of the last `load` of that customer)."""
        return self._ended.get(customer_id)

    async def load(
        self, conn: asyncpg.Connection, customer_ids: Iterable[str]
    ) -> dict[str, ContractSnapshot]:
        ids = sorted(set(customer_ids))
        known = [self._parsed[c][0] if c in self._parsed else -1 for c in ids]
        rows = await conn.fetch(
            """SELECT c.customer_id, c.revision, c.terminated_at,
                      CASE WHEN c.revision = k.rev THEN NULL ELSE c.snapshot END AS snapshot
               FROM contracts c JOIN unnest($1::text[], $2::bigint[]) AS k(cid, rev)
                 ON k.cid = c.customer_id""",
            ids,
            known,
        )
        out: dict[str, ContractSnapshot] = {}
        for row in rows:
            if row["snapshot"] is not None:
                parsed = ContractSnapshot.model_validate_json(row["snapshot"])
                self._parsed[row["customer_id"]] = (row["revision"], parsed)
            out[row["customer_id"]] = self._parsed[row["customer_id"]][1]
            if row["terminated_at"] is None:
                self._ended.pop(row["customer_id"], None)
            else:
                self._ended[row["customer_id"]] = row["terminated_at"]
        return out


async def store_contract(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    contract: ContractSnapshot | ContractTerminated,
) -> None:
    """Keep the customer's latest contract history; an older snapshot (fewer versions)
    never replaces a newer one."""
    history = ContractSnapshot(contract_id=contract.contract_id, versions=contract.versions)
    terminated = contract.effective_at if isinstance(contract, ContractTerminated) else None
    await conn.execute(
        """INSERT INTO contracts (customer_id, contract_id, snapshot, versions, terminated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (customer_id) DO UPDATE
           SET contract_id = EXCLUDED.contract_id, snapshot = EXCLUDED.snapshot,
               versions = EXCLUDED.versions, terminated_at = EXCLUDED.terminated_at,
               revision = nextval('contract_revisions'), updated_at = now()
           WHERE contracts.versions <= EXCLUDED.versions""",
        customer_id,
        contract.contract_id,
        history.model_dump_json(),
        len(contract.versions),
        terminated,
    )


async def tickets_waiting_for_contract(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str]
) -> list[TicketKey]:
    rows = await conn.fetch(
        """SELECT customer_id, ticket_id FROM tickets
           WHERE customer_id = ANY($1::text[]) AND no_clock_reason LIKE 'no contract%'""",
        list(customer_ids),
    )
    return [(r["customer_id"], r["ticket_id"]) for r in rows]


async def tickets_with_live_clocks(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str]
) -> list[TicketKey]:
    """The customers' tickets with a running or paused clock (a termination cancels them)."""
    rows = await conn.fetch(
        """SELECT DISTINCT customer_id, ticket_id FROM clocks
           WHERE customer_id = ANY($1::text[]) AND state IN ('running', 'paused')""",
        list(customer_ids),
    )
    return [(r["customer_id"], r["ticket_id"]) for r in rows]
