"""Id claims and the produce, in groups: concurrent requests share one INSERT and one
hand-off to the producer, and the groups Kafka acknowledged together share one UPDATE
(`GroupClaims.record`); a request waits on one future.

The rule ("ingest tells the truth"):
1. **Claim** — every new (customer, id) of a group is INSERTed into `accepted_events`
   as `pending` and committed *before* anything is produced. An id already there is a
   duplicate if `published`; if `pending`, its first copy is still being published by
   this process (the request then depends on that copy's outcome) or its outcome is in
   doubt (503, "outcome unknown": retry later with the same ids).
2. **Produce** — the group's new events go to Kafka (idempotent producer, acks=all).
3. **Record** — acknowledged ids become `published`; ids Kafka certainly did not take
   (the producer refused them) are deleted, so a retry publishes them; every other id
   (a timeout, a connection lost after the send) stays `pending`: **in doubt**.
4. **Resolve** — `DoubtResolver` settles each in-doubt id once no produce of it can
   still land (its futures settled `SETTLE_MARGIN_S` ago, or, for a row of another or a
   dead process, `orphan_grace_s` after it was claimed): it reads the id's partition
   from shortly before the claim (`SCAN_SLACK_S`) to its end, or to the first record
   stamped later than any produce of the claim could be, marks it `published` if it
   is there and deletes the claim if not. A retry after that is a duplicate (202) or
   publishes it.
5. **Abandoned attempts** — each group's INSERT carries a fresh attempt id. When
   Postgres answers too late (a freeze: the INSERT may still commit after the
   deadline), the attempt is given up before anything of it is handed to the producer
   and its id is remembered as *abandoned*; nothing is ever produced for an abandoned
   attempt. A retry's INSERT takes over a `pending` row of an abandoned attempt (it is
   then fresh: produced by the retry), and the resolver frees such rows each round, so
   the retry is accepted at once instead of "outcome unknown" for the orphan grace.
6. **Reconcile at start** — before a new process serves, and in every round after,
   the `pending` rows claimed before it started (a killed process's, or another
   instance's) are looked up on their partitions at once: those found are marked
   `published`, so a client's retry after a crash between Kafka's ack and step 3 is
   answered 202 (a duplicate) without waiting for the orphan grace and without being
   published again. Rows not found stay `pending` until step 4 may free them: another
   live instance may still be producing them.

Why freeing an abandoned attempt's rows is safe (the README has the whole argument):
an attempt id is made for one group, known only to this process, and only
`_finish_group` of that group produces under it; that task is created only after the
INSERT returned. The give-up (the id recorded in `abandoned`) happens instead of that,
in the same coroutine, so it happens-before any produce could and excludes it.

So an id is published at most once even when Kafka's answer is lost, the process is
killed between Kafka's ack and step 3 (the row stays `pending` and is confirmed from
the topic by the next start), or Postgres fails after the ack. No connection is held
while Kafka answers: a Postgres restart only fails the requests whose INSERT or UPDATE
it hit.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.partitioner import murmur2

from ingest import metrics
from msp_events import Envelope
from msp_events.serde import HEADERS
from msp_events.topics import topic_for
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import partition_for
from msp_plumbing.producer import FATAL_PRODUCER_ERRORS, RenewableProducer
from msp_plumbing.supervise import LogThrottle, within

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (customer_id, event_id)
T = TypeVar("T")
NOT_SENT_ERRORS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
)
"""Broker answers that mean the record was certainly not written."""
SETTLE_MARGIN_S = 3.0
"""After the producer gave up on a record, how long before its partition is read to
settle it (a broker that was frozen may still append a request it had received)."""
SCAN_SLACK_S = 60.0
"""How far before a claim the resolver starts reading its partition (record times
are the producer's clock, on another host)."""
ABANDONED_KEEP_S = 600.0
"""How long an abandoned attempt id is remembered: a frozen Postgres may commit its
INSERT any time later; a row committed after this is still freed, by the orphan grace."""

_throttle = LogThrottle(every_s=10.0)


def warn_throttled(kind: str, message: str, *args: object) -> None:
    """One warning line per `kind` per 10 s, with how many were held back: a broker
    outage must not write a line per request."""
    held = _throttle.allow(kind)
    if held is not None:
        log.warning(message, *args, extra={"suppressed": held})


@dataclass(frozen=True)
class _Outcomes:
    """A group's produce outcomes, waiting for `GroupClaims.record`."""

    published: list[Key]
    refused: list[Key]
    recorded: asyncio.Future[bool]  # True once committed, False if Postgres failed


@dataclass(eq=False)
class Claim:
    """One request's events on their way through a group."""

    events: Sequence[Envelope]
    values: Sequence[bytes]  # encoded, aligned with `events`
    fresh: list[int] = field(default_factory=list)  # indexes this claim publishes
    owners: set[Claim] = field(default_factory=set)  # in-flight first copies of my ids
    in_doubt: int = 0  # my ids whose earlier publish is in doubt
    acked: set[int] = field(default_factory=set)  # of `fresh`: acknowledged by Kafka
    refused: set[int] = field(default_factory=set)  # of `fresh`: certainly not written
    claimed: bool = False  # the INSERT committed (else nothing of it was produced)
    settled: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    submitted: float = field(default_factory=time.perf_counter)

    async def wait(self) -> None:
        """Until this claim and every first copy it depends on are settled."""
        await asyncio.shield(self.settled)
        for owner in self.owners:
            await owner.wait()

    def key(self, index: int) -> Key:
        event = self.events[index]
        return (event.customer_id, event.id)

    def unknown(self) -> list[int]:
        return [i for i in self.fresh if i not in self.acked and i not in self.refused]

    def outcome(self) -> str:
        """After `settled`: "published" (every event is on Kafka, now or before),
        "not_published" (nothing of it certainly reached Kafka... or failed before the
        claim), or "unknown" (some event's publish is in doubt)."""
        if not self.claimed:
            return "not_published"
        if self.in_doubt or self.unknown() or any(o.outcome() == "unknown" for o in self.owners):
            return "unknown"
        if self.refused or any(o.outcome() != "published" for o in self.owners):
            return "not_published"
        return "published"


class GroupClaims:
    """`run()` (two supervised tasks of the runtime) takes every queued request as one
    group, INSERTs its claims, and hands the group to a finisher task (produce, record)
    before going back for the next group: groups are pipelined."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        namespace: str,
        produce_timeout_s: float,
        db_timeout_s: float = 5.0,
        max_group: int = 512,
    ) -> None:
        self.pool = pool
        self._producer = RenewableProducer(  # replaced when lost for good
            producer,
            bootstrap_servers=bootstrap_servers,
            client_id="ingest-claims",
            start_timeout_s=produce_timeout_s,
        )
        self.bootstrap_servers = bootstrap_servers
        self.namespace = namespace
        self.produce_timeout_s = produce_timeout_s
        self.db_timeout_s = db_timeout_s
        self.max_group = max_group
        self.queue: asyncio.Queue[Claim] = asyncio.Queue()
        self._outcomes: asyncio.Queue[_Outcomes] = asyncio.Queue()
        self.inflight: dict[Key, Claim] = {}  # claimed here, outcome not recorded yet
        self.unsettled: dict[Key, float | None] = {}  # in doubt: None while the producer
        # may still deliver it, then the time it gave up (see DoubtResolver)
        self._finishers: set[asyncio.Task[None]] = set()
        self.abandoned: dict[uuid.UUID, tuple[float, frozenset[Key]]] = {}  # attempt ->
        # (when given up, monotonic; its keys): it never produced and never will (see
        # the module docstring)

    def submit(self, events: Sequence[Envelope], values: Sequence[bytes]) -> Claim:
        claim = Claim(events, values)
        self.queue.put_nowait(claim)
        return claim

    async def run(self) -> None:
        while True:
            group = [await self.queue.get()]
            size = len(group[0].events)
            while not self.queue.empty() and size < self.max_group:
                claim = self.queue.get_nowait()
                group.append(claim)
                size += len(claim.events)
            try:
                claimed = await self._claim_group(group)
            except BaseException as exc:  # cancelled, or a bug: never leave a request hanging
                _settle(group, exc if isinstance(exc, Exception) else None)
                raise
            if claimed:
                task = asyncio.create_task(self._finish_group(group))
                self._finishers.add(task)
                task.add_done_callback(self._finishers.discard)

    async def _claim_group(self, group: list[Claim]) -> bool:
        """Step 1. An id this process is already publishing is not claimed again: the
        request depends on that first copy (`owners`). Reservations are taken before
        the INSERT and released only after the outcome is recorded, so a later INSERT
        always sees the recorded state. False when Postgres failed: nothing was
        produced, the requests get 503 "nothing accepted"."""
        reserved: list[tuple[Claim, int]] = []
        topics: dict[Key, str] = {}
        for claim in group:
            for i, event in enumerate(claim.events):
                key = claim.key(i)
                owner = self.inflight.get(key)
                if owner is None:
                    self.inflight[key] = claim
                    reserved.append((claim, i))
                    topics[key] = _topic(event, self.namespace)
                elif owner is not claim:
                    claim.owners.add(owner)
        keys = sorted(topics)
        attempt = uuid.uuid4()
        abandoned = self.abandoned_attempts(of=keys)
        try:
            new, states = await within(
                self._in_db(
                    lambda conn: _insert(conn, keys, [topics[k] for k in keys], attempt, abandoned)
                ),
                self.db_timeout_s,
            )
        except BaseException as exc:
            # Given up before anything is produced: the INSERT may still commit (a
            # frozen Postgres), but no task will ever produce under `attempt`.
            self.abandoned[attempt] = (time.monotonic(), frozenset(keys))
            if not isinstance(exc, Exception):
                raise  # cancelled: `run` settles the group
            warn_throttled(f"claim:{type(exc).__name__}", "claiming ids failed: %r", exc)
            for claim, i in reserved:
                self.inflight.pop(claim.key(i), None)
            _settle(group, None)
            return False
        metrics.CLAIM_GROUP.observe(len(group))
        taken_over = len(new & states.keys())  # rows of an abandoned attempt, now ours
        if taken_over:
            metrics.DOUBTS_RESOLVED.labels("abandoned").inc(taken_over)
        now = time.perf_counter()
        for claim in group:
            claim.claimed = True
            metrics.CLAIM_WAIT.observe(now - claim.submitted)
        for claim, i in reserved:
            key = claim.key(i)
            if key in new:
                claim.fresh.append(i)
                continue
            self.inflight.pop(key, None)  # claimed before: a duplicate, or in doubt
            if states.get(key) != "published":
                claim.in_doubt += 1
        return True

    def abandoned_attempts(self, *, of: Sequence[Key] | None = None) -> list[uuid.UUID]:
        """The attempts given up in the last `ABANDONED_KEEP_S` (older ones forgotten);
        `of`: only those that claimed one of these keys."""
        horizon = time.monotonic() - ABANDONED_KEEP_S
        for attempt in [a for a, (at, _) in self.abandoned.items() if at < horizon]:
            del self.abandoned[attempt]
        return [
            a for a, (_, keys) in self.abandoned.items() if of is None or not keys.isdisjoint(of)
        ]

    async def _finish_group(self, group: list[Claim]) -> None:
        """Steps 2 and 3, then answer every request of the group."""
        try:
            await self._produce(group)
            crash_point("claims.after_ack")  # tests: killed before the outcome is recorded
            started = time.perf_counter()
            await self._record(group)
            metrics.COMMIT_WAIT.observe(time.perf_counter() - started)
        finally:
            for claim in group:
                for i in claim.fresh:
                    self.inflight.pop(claim.key(i), None)
            _settle(group, None)

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer claims send with now (a new one after one was lost)."""
        return self._producer.current

    async def close(self) -> None:
        """Stop the producer a renewal made, if any."""
        await self._producer.close()

    async def _produce(self, group: list[Claim]) -> None:
        """Send every fresh event, wait at most `produce_timeout_s` for the acks."""
        started = time.perf_counter()
        sent: list[tuple[Claim, int, asyncio.Future[Any]]] = []
        try:
            await self._producer.renew_if_lost()
            async with asyncio.timeout(self.produce_timeout_s):
                partitions: dict[str, list[int]] = {}  # topic -> its partitions, sorted
                for claim in group:
                    for i in claim.fresh:
                        event = claim.events[i]
                        try:
                            topic = _topic(event, self.namespace)
                            key = event.customer_id.encode()
                            if topic not in partitions:
                                found = await self.producer.partitions_for(topic)
                                partitions[topic] = sorted(found)
                            future = await self.producer.send(
                                topic,
                                claim.values[i],
                                key=key,
                                partition=_partition(key, partitions[topic]),
                                headers=HEADERS,
                            )
                        except Exception as exc:  # never appended to a batch: not sent
                            warn_throttled(
                                f"refused:{type(exc).__name__}", "produce refused: %r", exc
                            )
                            claim.refused.add(i)
                        else:
                            sent.append((claim, i, future))
                if sent:
                    await asyncio.wait([f for _, _, f in sent])
        except TimeoutError:
            warn_throttled(
                "produce-timeout",
                "Kafka did not acknowledge within %.1f s: outcome unknown",
                self.produce_timeout_s,
            )
        except Exception as exc:  # no new producer yet: nothing was handed to Kafka
            warn_throttled(f"renew:{type(exc).__name__}", "no new producer: %r", exc)
        handed = {(id(claim), i) for claim, i, _ in sent}
        for claim in group:  # the deadline came before `send` took them: not sent
            claim.refused.update(i for i in claim.fresh if (id(claim), i) not in handed)
            claim.refused -= claim.acked
        for claim, i, future in sent:
            if not future.done():
                self._watch(claim.key(i), future)
            elif future.exception() is None:
                claim.acked.add(i)
            elif isinstance(future.exception(), NOT_SENT_ERRORS):
                claim.refused.add(i)
            else:
                if isinstance(future.exception(), FATAL_PRODUCER_ERRORS):
                    self._producer.mark_lost()
                warn_throttled("produce-failed", "produce failed: %r", future.exception())
                self.unsettled[claim.key(i)] = time.monotonic()
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)

    def _watch(self, key: Key, future: asyncio.Future[Any]) -> None:
        """An in-doubt id whose produce may still land: the resolver waits for it."""
        self.unsettled[key] = None

        def settled(f: asyncio.Future[Any]) -> None:
            if not f.cancelled():
                f.exception()  # retrieved: no "never retrieved" noise
            if key in self.unsettled:
                self.unsettled[key] = time.monotonic()

        future.add_done_callback(settled)

    async def _record(self, group: list[Claim]) -> None:
        """Step 3, handed to `record` (which records every group finished meanwhile in
        one statement). If Postgres fails there the ids stay `pending` and are resolved
        later."""
        published = [c.key(i) for c in group for i in c.acked]
        refused = [c.key(i) for c in group for i in c.refused]
        if not published and not refused:
            return
        outcomes = _Outcomes(published, refused, asyncio.get_running_loop().create_future())
        self._outcomes.put_nowait(outcomes)
        recorded = False
        try:  # bounded even if `record` is not running (stopping): then in doubt
            async with asyncio.timeout(2 * self.db_timeout_s):
                recorded = await asyncio.shield(outcomes.recorded)
        except TimeoutError:
            pass
        if not recorded:
            for key in [*published, *refused]:
                self.unsettled[key] = time.monotonic()

    async def record(self) -> None:
        """A supervised loop (step 3 for every group): the outcomes of all groups that
        finished since the last round become one UPDATE. Kafka acknowledges the batches
        of many groups in one answer (one produce request in flight per broker), so
        they finish together; one statement and one commit for them all instead of one
        each (a commit, with its WAL flush, was most of Postgres's cost per post)."""
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty():
                batch.append(self._outcomes.get_nowait())
            published = [k for o in batch for k in o.published]
            refused = [k for o in batch for k in o.refused]
            recorded = False
            try:
                await within(self._mark_all(published, refused), self.db_timeout_s)
                recorded = True
            except Exception as exc:
                warn_throttled(
                    f"record:{type(exc).__name__}", "recording produce outcomes failed: %r", exc
                )
            finally:  # cancelled too: every group waiting on this round gets its answer
                for outcomes in batch:
                    if not outcomes.recorded.done():
                        outcomes.recorded.set_result(recorded)

    async def _mark_all(self, published: list[Key], refused: list[Key]) -> None:
        await self._in_db(lambda conn: _mark(conn, published, refused))

    async def _in_db(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self.pool.acquire() as conn:
            return await work(conn)


def _settle(group: list[Claim], error: Exception | None) -> None:
    for claim in group:
        if not claim.settled.done():
            if error is None:
                claim.settled.set_result(None)
            else:
                claim.settled.set_exception(error)


def _topic(event: Envelope, namespace: str) -> str:
    return topic_for(event.type).named(namespace)


def _partition(key: bytes, partitions: list[int]) -> int:
    """The partition aiokafka's default partitioner picks for `key` (murmur2 of the
    key, positive, modulo the count, indexing the sorted partitions), with the hash
    cached per key: a customer's events share it, and aiokafka computes it in pure
    Python on every send (a webhook of 100 alerts is one customer)."""
    return partitions[_key_hash(key) % len(partitions)]


@functools.lru_cache(maxsize=16_384)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


async def _insert(
    conn: asyncpg.Connection,
    keys: list[Key],
    topics: list[str],
    attempt: uuid.UUID,
    abandoned: list[uuid.UUID],
) -> tuple[set[Key], dict[Key, str]]:
    """Claim `keys` for `attempt` (autocommit); returns the new ones (a `pending` row of
    an `abandoned` attempt is taken over: new, and also in the states as `pending`)
    and the state of the others. The takeover (DO UPDATE locks every conflicting row,
    even one it leaves alone) is used only when some key was claimed by an abandoned
    attempt: a repeat of a published id takes no lock."""
    on_conflict = (
        """ON CONFLICT (customer_id, event_id) DO UPDATE
             SET attempt = excluded.attempt, topic = excluded.topic,
                 accepted_at = excluded.accepted_at
             WHERE a.state = 'pending' AND a.attempt = ANY($5::uuid[])"""
        if abandoned
        else "ON CONFLICT DO NOTHING"
    )
    rows = await conn.fetch(
        """WITH wanted AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w(c, e, t)
           ), inserted AS (
               INSERT INTO accepted_events AS a (customer_id, event_id, topic, state, attempt)
               SELECT c, e, t, 'pending', $4::uuid FROM wanted ORDER BY c, e
               """
        + on_conflict
        + """
               RETURNING customer_id, event_id
           )
           SELECT a.customer_id, a.event_id, a.state, false AS new FROM accepted_events a
             JOIN wanted w ON (a.customer_id, a.event_id) = (w.c, w.e)
           UNION ALL
           SELECT customer_id, event_id, 'pending', true FROM inserted""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        topics,
        attempt,
        *([abandoned] if abandoned else []),
    )
    new = {(r["customer_id"], r["event_id"]) for r in rows if r["new"]}
    states = {(r["customer_id"], r["event_id"]): r["state"] for r in rows if not r["new"]}
    return new, states


async def _mark(conn: asyncpg.Connection, published: list[Key], refused: list[Key]) -> None:
    """One statement (atomic without a transaction block: no BEGIN/COMMIT round trips):
    acknowledged ids become `published`, refused ones are freed."""
    update = """UPDATE accepted_events a SET state = 'published'
                FROM unnest($1::text[], $2::text[]) AS k(c, e)
                WHERE (a.customer_id, a.event_id) = (k.c, k.e)"""
    delete = """DELETE FROM accepted_events a USING unnest($%d::text[], $%d::text[]) AS k(c, e)
                WHERE (a.customer_id, a.event_id) = (k.c, k.e) AND a.state = 'pending'"""
    if not refused:
        await conn.execute(update, [k[0] for k in published], [k[1] for k in published])
    elif not published:
        await conn.execute(delete % (1, 2), [k[0] for k in refused], [k[1] for k in refused])
    else:  # both (rare: a producer refusal in a group): data-modifying CTEs, one statement
        await conn.execute(
            f"WITH p AS ({update}), r AS ({delete % (3, 4)}) SELECT 1",
            [k[0] for k in published],
            [k[1] for k in published],
            [k[0] for k in refused],
            [k[1] for k in refused],
        )


async def _resolve(
    conn: asyncpg.Connection, published: list[asyncpg.Record], missing: list[asyncpg.Record]
) -> None:
    """The resolver's `_mark`: each row only if still `pending` for the attempt read."""

    def columns(rows: list[asyncpg.Record]) -> tuple[list[str], list[str], list[Any]]:
        return (
            [r["customer_id"] for r in rows],
            [r["event_id"] for r in rows],
            [r["attempt"] for r in rows],
        )

    async with conn.transaction():
        if published:
            await conn.execute(
                """UPDATE accepted_events a SET state = 'published'
                   FROM unnest($1::text[], $2::text[], $3::uuid[]) AS k(c, e, t)
                   WHERE (a.customer_id, a.event_id) = (k.c, k.e) AND a.state = 'pending'
                     AND a.attempt IS NOT DISTINCT FROM k.t""",
                *columns(published),
            )
        if missing:
            await conn.execute(
                """DELETE FROM accepted_events a
                   USING unnest($1::text[], $2::text[], $3::uuid[]) AS k(c, e, t)
                   WHERE (a.customer_id, a.event_id) = (k.c, k.e) AND a.state = 'pending'
                     AND a.attempt IS NOT DISTINCT FROM k.t""",
                *columns(missing),
            )


@dataclass
class DoubtResolver:
    """Steps 4 and 5, a supervised loop: settles `pending` claims no produce can still
    land, and confirms those of earlier processes, by reading their partitions (see
    the module docstring). `reconcile_at_start` is its first round, run before the
    process serves."""

    pool: asyncpg.Pool
    claims: GroupClaims
    bootstrap_servers: str
    orphan_grace_s: float = 60.0
    interval_s: float = 2.0
    batch: int = 5_000
    started_at: datetime | None = None
    """Postgres's clock when this process started: rows claimed before are not ours."""

    async def reconcile_at_start(self) -> tuple[int, int]:
        async with self.pool.acquire() as conn:
            self.started_at = await conn.fetchval("SELECT now()")
        return await self.resolve_once()

    async def run(self) -> None:
        while True:
            await self.resolve_once()
            await asyncio.sleep(self.interval_s)

    async def resolve_once(self) -> tuple[int, int]:
        """Returns (found on Kafka -> published, not there -> claim deleted)."""
        await self.free_abandoned()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT customer_id, event_id, topic, accepted_at, attempt,
                          accepted_at < now() - make_interval(secs => $1) AS orphaned,
                          coalesce(accepted_at < $3::timestamptz, false) AS earlier
                   FROM accepted_events WHERE state = 'pending' ORDER BY accepted_at LIMIT $2""",
                self.orphan_grace_s,
                self.batch,
                self.started_at,
            )
        due = {(r["customer_id"], r["event_id"]): r for r in rows if self._due(r)}
        if not due:
            return 0, 0
        found = await self._find_on_kafka(list(due.values()))
        published = [k for k in due if k in found]
        # not on Kafka: free it only once no produce of it can still land
        missing = [k for k, r in due.items() if k not in found and self._settled(r)]
        if not published and not missing:
            return 0, 0
        async with self.pool.acquire() as conn:  # only the attempts read: a retry may
            # have taken over an abandoned attempt's row since (and be producing it)
            await _resolve(conn, [due[k] for k in published], [due[k] for k in missing])
        for key in [*published, *missing]:
            self.claims.unsettled.pop(key, None)
        metrics.DOUBTS_RESOLVED.labels("published").inc(len(published))
        metrics.DOUBTS_RESOLVED.labels("not_published").inc(len(missing))
        log.warning(
            "resolved %d in-doubt id(s): %d on Kafka (marked published), %d not (freed)",
            len(published) + len(missing),
            len(published),
            len(missing),
        )
        return len(published), len(missing)

    async def free_abandoned(self) -> int:
        """Delete the `pending` rows of attempts this process gave up before producing
        (their INSERT committed late): nothing was or will be produced for them, so a
        retry, on any instance, publishes them without the orphan grace."""
        abandoned = self.claims.abandoned_attempts()
        if not abandoned:
            return 0
        async with self.pool.acquire() as conn:
            freed = await conn.fetchval(
                """WITH freed AS (
                       DELETE FROM accepted_events
                       WHERE state = 'pending' AND attempt = ANY($1::uuid[]) RETURNING 1
                   ) SELECT count(*) FROM freed""",
                abandoned,
            )
        if freed:
            metrics.DOUBTS_RESOLVED.labels("abandoned").inc(freed)
            log.warning("freed %d id(s) claimed by an attempt given up before producing", freed)
        return int(freed)

    def _due(self, row: asyncpg.Record) -> bool:
        """Worth looking up now: settled, or claimed before this process started."""
        key = (row["customer_id"], row["event_id"])
        if key in self.claims.inflight:
            return False
        return self._settled(row) or (key not in self.claims.unsettled and row["earlier"])

    def _settled(self, row: asyncpg.Record) -> bool:
        """No produce of this row can still land: its futures settled here
        `SETTLE_MARGIN_S` ago, or (another or a dead process's) the orphan grace passed."""
        key = (row["customer_id"], row["event_id"])
        if key in self.claims.unsettled:
            gave_up = self.claims.unsettled[key]
            return gave_up is not None and time.monotonic() - gave_up >= SETTLE_MARGIN_S
        return bool(row["orphaned"])

    async def _find_on_kafka(self, rows: list[asyncpg.Record]) -> set[Key]:
        wanted: dict[TopicPartition, set[Key]] = defaultdict(set)
        since: dict[TopicPartition, datetime] = {}
        until: dict[TopicPartition, datetime] = {}
        for row in rows:
            parts = await self.claims.producer.partitions_for(row["topic"])
            tp = TopicPartition(
                row["topic"], partition_for(row["customer_id"].encode(), len(parts))
            )
            wanted[tp].add((row["customer_id"], row["event_id"]))
            since[tp] = min(since.get(tp, row["accepted_at"]), row["accepted_at"])
            until[tp] = max(until.get(tp, row["accepted_at"]), row["accepted_at"])
        # a claim's record is stamped when it is handed to the producer, within the
        # orphan grace of the claim; SCAN_SLACK_S on both sides covers the clocks
        late = timedelta(seconds=self.orphan_grace_s + SCAN_SLACK_S)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_uncommitted",
        )
        await consumer.start()
        try:
            found: set[Key] = set()
            for tp, keys in wanted.items():
                window = (since[tp] - timedelta(seconds=SCAN_SLACK_S), until[tp] + late)
                found |= await _scan(consumer, tp, keys, window)
            return found
        finally:
            await consumer.stop()


async def _scan(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    keys: set[Key],
    window: tuple[datetime, datetime],
) -> set[Key]:
    """The keys of `keys` present in `tp` from the first record stamped at or after
    `window[0]` to the first stamped after `window[1]` or the partition's end (as it
    is now), whichever comes first: a start-up after a long outage reads minutes of
    the partition, not hours."""
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    start = (await consumer.offsets_for_times({tp: _ms(window[0])}))[tp]
    if start is None or start.offset >= end:
        return set()
    consumer.seek(tp, start.offset)
    found: set[Key] = set()
    last_ms = _ms(window[1])
    position = start.offset
    while position < end and len(found) < len(keys):
        batch = await consumer.getmany(tp, timeout_ms=2000)
        records = batch.get(tp, [])
        if not records:
            raise TimeoutError(f"could not read {tp} up to offset {end}")
        for record in records:
            if record.offset >= end or record.timestamp > last_ms:
                return found
            position = record.offset + 1
            key = (record.key or b"").decode()
            try:
                event_id = json.loads(record.value)["id"]
            except (ValueError, KeyError, TypeError):
                continue
            if (key, event_id) in keys:
                found.add((key, event_id))
    return found


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
