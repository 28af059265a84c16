"""Group commit of id claims: concurrent requests share one Postgres transaction and
one hand-off to the producer.

Each request's (customer, id) pairs must be claimed in `accepted_events` in a
transaction that stays open until Kafka acknowledged the request's new events (see
`pipeline`). Done per request that costs three Postgres round trips plus a produce,
each a wake-up of the request's task; under load that was most of the service's CPU.
Here every request waiting in the queue joins one group: one transaction, one INSERT
for the whole group, one `produce` call sending the new events of all its requests,
then the claims of any request whose produce failed are deleted again and the group
commits. A request waits on one future, resolved after its group committed. Groups are
pipelined: the next group is claimed while earlier ones still wait for Kafka.

Same guarantees as one transaction per request:
* A re-post in a later group finds the id committed (or waits on its row lock while
  the earlier group is still open) and publishes nothing.
* Two requests in one group with the same id: the first owns the claim; the second is
  answered after the group, 202 only if the owner's produce succeeded, else 503.
* Rows are inserted in key order, so two groups never lock each other in a cycle; a
  group's INSERT may wait on the row lock of an earlier open group (a re-post of an id
  in flight), never the other way round, since an open group waits only for Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ingest import metrics
from msp_events import Envelope

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass(eq=False)
class Claim:
    events: Sequence[Envelope]
    fresh: list[Envelope] = field(default_factory=list)  # new ids: this claim publishes them
    owners: set[Claim] = field(default_factory=set)  # earlier claims of my duplicate ids
    produced: bool | None = None  # set by `produce`: all of `fresh` acknowledged by Kafka
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    submitted: float = field(default_factory=time.perf_counter)

    def report(self, ok: bool) -> None:
        if self.produced is None:
            self.produced = ok

    def succeeded(self) -> bool:
        """After commit: my events and those of my owners are all on Kafka."""
        return all(o.produced for o in (self, *self.owners))


Produce = Callable[[list["Claim"]], Awaitable[None]]
"""Sends the `fresh` events of every claim of a group and `report`s each claim's
outcome (`pipeline.Intake.produce_group`)."""


class GroupClaims:
    """`inserters` tasks run `run()`: each takes every queued request as one group,
    opens its transaction and INSERTs its claims, hands the open transaction to a
    finisher task (produce, commit) and goes back for the next group at once. So a
    request waits for at most one INSERT before its own (requests arriving meanwhile
    form the next group), and any number of groups wait for Kafka concurrently,
    bounded by the pool (each open group holds a connection)."""

    def __init__(
        self, *, pool: asyncpg.Pool, produce: Produce, wait_s: float, max_group: int = 512
    ) -> None:
        self.pool = pool
        self.produce = produce
        self.wait_s = wait_s  # a group waits this long for `produce`, then fails
        self.max_group = max_group
        self.queue: asyncio.Queue[Claim] = asyncio.Queue()

    def submit(self, events: Sequence[Envelope]) -> Claim:
        claim = Claim(events)
        self.queue.put_nowait(claim)
        return claim

    async def run(self) -> None:
        finishers: set[asyncio.Task[None]] = set()
        try:
            while True:
                group = [await self.queue.get()]
                size = len(group[0].events)
                while not self.queue.empty() and size < self.max_group:
                    claim = self.queue.get_nowait()
                    group.append(claim)
                    size += len(claim.events)
                opened = await self._claim_group(group)
                if opened is not None:
                    task = asyncio.create_task(self._finish_group(group, *opened))
                    finishers.add(task)
                    task.add_done_callback(finishers.discard)
        finally:
            for task in finishers:
                task.cancel()

    async def _claim_group(self, group: list[Claim]) -> tuple[Any, Any] | None:
        """Open the group's transaction and claim its ids; returns (connection,
        transaction), or None when that failed (the group's requests get 503)."""
        conn = await self.pool.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            self._assign(group, await self._insert(conn, group))
        except Exception as exc:
            await self._close(conn, tx, group, exc)
            return None
        now = time.perf_counter()
        for claim in group:
            metrics.CLAIM_WAIT.observe(now - claim.submitted)
        return conn, tx

    async def _finish_group(self, group: list[Claim], conn: Any, tx: Any) -> None:
        """Produce every member's new events, free the ids whose produce failed, commit."""
        try:
            try:
                async with asyncio.timeout(self.wait_s):
                    await self.produce(group)
            finally:
                for claim in group:
                    claim.report(False)  # no-op for those reported
            produced = time.perf_counter()
            failed = [(e.customer_id, e.id) for c in group if not c.produced for e in c.fresh]
            if failed:  # not on Kafka: free the ids so a retry publishes them
                await conn.execute(
                    """DELETE FROM accepted_events WHERE (customer_id, event_id) IN
                       (SELECT * FROM unnest($1::text[], $2::text[]))""",
                    [k[0] for k in failed],
                    [k[1] for k in failed],
                )
            await tx.commit()
        except BaseException as exc:  # the group rolls back: nothing of it is accepted
            await self._close(conn, tx, group, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            await self.pool.release(conn)
            metrics.COMMIT_WAIT.observe(time.perf_counter() - produced)
            for claim in group:
                claim.committed.set_result(None)

    async def _close(self, conn: Any, tx: Any, group: list[Claim], exc: BaseException) -> None:
        log.warning("claim group of %d requests failed: %r", len(group), exc)
        error = exc if isinstance(exc, Exception) else RuntimeError("claims stopped")
        for claim in group:
            if not claim.committed.done():
                claim.committed.set_exception(error)
            claim.report(False)
        try:
            if not conn.is_closed():
                await tx.rollback()
        except Exception as rollback_error:  # a broken connection: the pool replaces it
            log.warning("rollback failed: %r", rollback_error)
        finally:
            await self.pool.release(conn)

    @staticmethod
    async def _insert(conn: Any, group: list[Claim]) -> set[Key]:
        keys = sorted({(e.customer_id, e.id) for c in group for e in c.events})
        rows = await conn.fetch(
            """INSERT INTO accepted_events (customer_id, event_id)
               SELECT c, e FROM unnest($1::text[], $2::text[]) AS t(c, e) ORDER BY c, e
               ON CONFLICT DO NOTHING RETURNING customer_id, event_id""",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["customer_id"], r["event_id"]) for r in rows}

    @staticmethod
    def _assign(group: list[Claim], new: set[Key]) -> None:
        """Each new id to the first request of the group that carries it; later copies
        depend on that owner's produce."""
        owner: dict[Key, Claim] = {}
        for claim in group:
            for event in claim.events:
                key = (event.customer_id, event.id)
                if key in new:
                    new.discard(key)
                    owner[key] = claim
                    claim.fresh.append(event)
                elif key in owner and owner[key] is not claim:
                    claim.owners.add(owner[key])
