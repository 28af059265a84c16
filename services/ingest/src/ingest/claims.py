"""Group commit of id claims: concurrent requests share one Postgres transaction.

Each request's (customer, id) pairs must be claimed in `accepted_events` in a
transaction that stays open until Kafka acknowledged the request's new events (see
`pipeline`). Doing that per request costs three round trips (BEGIN, INSERT, COMMIT)
each; under load that was most of the service's CPU. Here every request waiting in the
queue joins one group: one transaction, one INSERT for the whole group, then every
request produces its own events, then the claims of any request whose produce failed
are deleted again and the group commits. A request is answered only after its group
committed. Groups are pipelined: the next group is claimed while earlier ones still
wait for Kafka.

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from msp_events import Envelope

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass(eq=False)
class Claim:
    events: Sequence[Envelope]
    fresh: list[Envelope] = field(default_factory=list)
    owners: set[Claim] = field(default_factory=set)  # earlier claims of my duplicate ids
    claimed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    produced: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def report(self, ok: bool) -> None:
        if not self.produced.done():
            self.produced.set_result(ok)

    def succeeded(self) -> bool:
        """After commit: my events and those of my owners are all on Kafka."""
        return all(o.produced.done() and o.produced.result() for o in (self, *self.owners))


class GroupClaims:
    """`inserters` tasks run `run()`: each takes every queued request as one group,
    opens its transaction and INSERTs its claims, hands the open transaction to a
    finisher task and goes back for the next group at once. So a request waits for at
    most one INSERT before its own (requests arriving meanwhile form the next group),
    and any number of groups wait for Kafka concurrently, bounded by the pool (each
    open group holds a connection)."""

    def __init__(self, *, pool: asyncpg.Pool, max_group: int = 512, wait_s: float) -> None:
        self.pool = pool
        self.max_group = max_group
        self.wait_s = wait_s  # how long a group waits for its members' produce
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

    async def _claim_group(
        self, group: list[Claim]
    ) -> tuple[asyncpg.pool.PoolConnectionProxy, asyncpg.transaction.Transaction] | None:
        """Open the group's transaction and claim its ids; None when that failed (the
        group's requests are answered 503)."""
        conn = await self.pool.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            self._assign(group, await self._insert(conn, group))
        except Exception as exc:
            await self._close(conn, tx, group, exc)
            return None
        return conn, tx

    async def _finish_group(
        self,
        group: list[Claim],
        conn: asyncpg.pool.PoolConnectionProxy,
        tx: asyncpg.transaction.Transaction,
    ) -> None:
        """Wait for every member's produce, free the ids whose produce failed, commit."""
        try:
            try:
                async with asyncio.timeout(self.wait_s):
                    await asyncio.gather(*(c.produced for c in group))
            except TimeoutError:
                for claim in group:
                    claim.report(False)
            failed = [
                (e.customer_id, e.id) for c in group if not c.produced.result() for e in c.fresh
            ]
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
            raise
        else:
            await self.pool.release(conn)
            for claim in group:
                claim.committed.set_result(None)

    async def _close(
        self,
        conn: asyncpg.pool.PoolConnectionProxy,
        tx: asyncpg.transaction.Transaction,
        group: list[Claim],
        exc: BaseException,
    ) -> None:
        log.warning("claim group of %d requests failed: %r", len(group), exc)
        for claim in group:
            for future in (claim.claimed, claim.committed):
                if not future.done():
                    future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError("claims stopped")
                    )
            claim.report(False)
        try:
            if not conn.is_closed():
                await tx.rollback()
        except Exception as rollback_error:  # the connection is broken: the pool replaces it
            log.warning("rollback failed: %r", rollback_error)
        finally:
            await self.pool.release(conn)

    @staticmethod
    async def _insert(conn: asyncpg.pool.PoolConnectionProxy, group: list[Claim]) -> set[Key]:
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
        wait for that owner's produce."""
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
            claim.claimed.set_result(None)
