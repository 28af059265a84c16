"""The wall-clock scheduler: every `MSP_WALL_CLOCK_TICK_S` it advances to now the
customers that have something due (a maintenance window's end, a hold-down, an alert's
expiry, a device's silence, the end of flapping), so nothing waits for traffic that may
never come. Event time stays the primary clock: the consumer does the same on every
event.

A round claims due customers from the `triage_customers.wake_at` index with
`FOR UPDATE SKIP LOCKED` (customers the consumer holds are taken next round), loads
only their due rows (`store.load`), applies `triage.advance` and writes state, outputs
and triage log in one transaction. A customer whose advance raises is left as it was,
logged and parked (`wake_at` cleared: its next event retries it) instead of failing the
round for everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from incidents import metrics, store, triage
from incidents.config import TriageConfig
from incidents.consumers import write_effects
from incidents.outputs import Effects
from msp_events.topics import DEAD_LETTER
from msp_plumbing.consumer import TRANSIENT_ERRORS, DeadLetters, Tx
from msp_plumbing.outbox import enqueue

log = logging.getLogger(__name__)


class TriageScheduler:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        cfg: TriageConfig,
        schema: str,
        namespace: str,
        group: str,
        interval_s: float,
        batch_size: int = 200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.cfg = cfg
        self.schema = schema
        self.namespace = namespace
        self.dead_letters = DeadLetters(
            group_id=group, service="incidents", topic=DEAD_LETTER.named(namespace)
        )
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.clock = clock

    async def run_once(self, now: datetime | None = None) -> int:
        """Advance up to `batch_size` due customers to `now` (default: the clock);
        returns how many were claimed."""
        async with self.pool.acquire() as conn:
            tx = Tx(conn=conn, namespace=self.namespace, dead_letters=self.dead_letters)
            async with conn.transaction():
                claimed = await advance_due(
                    tx,
                    now=now or self.clock(),
                    cfg=self.cfg,
                    schema=self.schema,
                    limit=self.batch_size,
                )
            tx.committed()  # counters: a round that failed is counted by its retry only
            return claimed

    async def run(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
            except TRANSIENT_ERRORS as exc:
                log.warning("scheduler round failed, retrying: %r", exc)
                claimed = 0
            if claimed < self.batch_size:
                await asyncio.sleep(self.interval_s)


async def advance_due(tx: Tx, *, now: datetime, cfg: TriageConfig, schema: str, limit: int) -> int:
    """One round in the caller's transaction (`tx`: its connection, namespace and dead
    letters; the caller runs `tx.committed()` after the commit): claim, load, advance,
    save, emit."""
    conn = tx.conn
    customers = await store.claim_due(conn, now=now, limit=limit)
    if not customers:
        return 0
    batch = await store.load(conn, advance=customers, now=now)
    effects: list[Effects] = []
    parked: list[str] = []
    for customer in customers:
        state = batch.states[customer]
        try:
            effects.append(triage.advance(state, batch.contract(customer), now, cfg))
        except Exception:
            log.exception(
                "could not advance a customer: parked until its next event",
                extra={"customer_id": customer},
            )
            parked.append(customer)
    await store.save(conn, batch, cfg, skip=parked)
    for customer in parked:
        await store.park(conn, customer)
        metrics.SCHEDULER_PARKED.inc()
    # waiting alerts that expired ("not monitored") keep no parked record
    released = store.released(batch, skip=parked)
    if released:
        await tx.unpark(released)
    await write_effects(tx, effects)
    await enqueue(conn, schema, tx.outbox)
    return len(customers)
