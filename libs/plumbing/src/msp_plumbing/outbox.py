"""The transactional outbox: events are written to the `outbox` table in the same
transaction as the state that caused them, and `OutboxRelay` publishes them to Kafka
through an idempotent producer (acks=all), marking each row sent after the ack.

Guarantees, and how:
* Nothing lost: a row exists iff its state change committed; the relay retries until
  Kafka acknowledged it.
* Nothing twice: `event_id` is unique in the table (a replayed input re-emits the same
  derived ids, which are dropped here). The one window left — Kafka acknowledged a
  batch, the process died before marking it sent — is closed at relay start-up:
  `recover()` reads the tail of each partition it was writing to and marks the rows
  whose event id it finds there. The id is the record's own CloudEvents `id` (unique in
  the table), so records carry no bookkeeping header: consumers see only content-type.
* Order per customer: one relay per schema is active (a Postgres advisory lock
  elects it); rows go out in id order to the partition murmur2(key) picks, the same
  one Kafka's default partitioner would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from msp_events import Envelope
from msp_events.serde import HEADERS, encode_value
from msp_plumbing import metrics
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.producer import FATAL_PRODUCER_ERRORS, RenewableProducer

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "msp_outbox"


class ProducerLost(ConnectionError):
    """The relay's producer hit one of `FATAL_PRODUCER_ERRORS`; the relay runs again on
    a new producer (a ConnectionError: the supervisor retries it like any lost link)."""


class OutboxRecord(NamedTuple):
    """One row for the outbox (a tuple: one is built per emitted event)."""

    event_id: str
    topic: str
    key: bytes
    value: bytes


def outbox_record(event: Envelope, *, topic: str) -> OutboxRecord:
    """`event` as the record `encode` makes (key = customer id), for `topic`."""
    return OutboxRecord(event.id, topic, event.customer_id.encode(), encode_value(event))


async def enqueue(conn: asyncpg.Connection, schema: str, records: Sequence[OutboxRecord]) -> None:
    """Add records to the outbox inside the caller's transaction, and wake the relay
    (one statement for the batch). Ids already present are ignored (deterministic ids
    make re-emission a no-op)."""
    if not records:
        return
    event_ids, topics, keys, values = zip(*records, strict=True)
    await conn.execute(
        """WITH added AS (
               INSERT INTO outbox (event_id, topic, key, value)
               SELECT e, t, k, v FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[])
                    WITH ORDINALITY AS r(e, t, k, v, n) ORDER BY n
               ON CONFLICT (event_id) DO NOTHING)
           SELECT pg_notify($5, $6)""",
        event_ids,
        topics,
        keys,
        values,
        NOTIFY_CHANNEL,
        schema,
    )


@dataclass(frozen=True)
class Retention:
    """How long bookkeeping rows are kept. Sent outbox rows only serve re-emission
    dedupe and forensics; processed ids are the dedupe window for duplicate deliveries
    (longer than any raw topic's retention, so a redelivery is always recognised)."""

    outbox_sent_s: float = 7 * 24 * 3600
    processed_ids_s: float = 30 * 24 * 3600
    every_s: float = 600


async def prune(pool: asyncpg.Pool, retention: Retention) -> tuple[int, int]:
    """Delete sent outbox rows and processed ids past retention; never an unsent row."""
    async with pool.acquire() as conn:
        outbox = await conn.execute(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)",
            retention.outbox_sent_s,
        )
        processed = await conn.execute(
            "DELETE FROM processed_events WHERE processed_at < now() - make_interval(secs => $1)",
            retention.processed_ids_s,
        )
    return int(outbox.split()[-1]), int(processed.split()[-1])


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo)."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class OutboxRelay:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        schema: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        recovery_scan_limit: int = 20_000,
        retention: Retention | None = None,
    ) -> None:
        self.pool = pool
        self._producer = RenewableProducer(
            producer, bootstrap_servers=bootstrap_servers, client_id=f"outbox-{schema}"
        )
        self.bootstrap_servers = bootstrap_servers
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.recovery_scan_limit = recovery_scan_limit
        self.retention = retention or Retention()
        self._next_prune = 0.0
        self._wake = asyncio.Event()
        self._partitions: dict[str, int] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        """Partition by (topic, key): the keys are customer ids, few and hot, and
        murmur2 is pure Python."""

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer the relay sends with now (a new one after one was lost)."""
        return self._producer.current

    async def run(self) -> None:
        """Elect, recover, then relay until cancelled or a dependency fails (the
        runtime's supervisor calls `run` again: re-elect, recover, relay). Recovery on
        every start also marks rows Kafka acknowledged just before Postgres went away,
        or before a producer was lost (then `run` starts on a new producer)."""
        await self._producer.renew_if_lost()
        async with self.pool.acquire() as lock_conn:
            await self._become_leader(lock_conn)
            await lock_conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            try:
                await self.recover()
                while True:
                    sent = await self.relay_once()
                    if time.monotonic() >= self._next_prune:
                        await prune(self.pool, self.retention)
                        self._next_prune = time.monotonic() + self.retention.every_s
                    if sent < self.batch_size:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            except FATAL_PRODUCER_ERRORS as exc:
                self._producer.mark_lost()
                raise ProducerLost(f"the relay's producer failed for good: {exc!r}") from exc
            finally:
                await self._resign(lock_conn)

    async def close(self) -> None:
        """Stop the producer a renewal made, if any (the runtime stops its own)."""
        await self._producer.close()

    async def _resign(self, conn: asyncpg.Connection) -> None:
        """Give up the lock and the listener; on a connection that is already gone
        (Postgres restarted) there is nothing to give up: the session ended with it."""
        if conn.is_closed():
            return
        try:
            async with asyncio.timeout(2):
                await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtext($1))", f"outbox:{self.schema}"
                )
        except Exception as exc:  # the original error (if any) is what matters
            log.info("relay could not release its lock cleanly: %r", exc)

    async def _become_leader(self, conn: asyncpg.Connection) -> None:
        """Block until this instance holds the schema's relay lock (another instance
        relays meanwhile; its session ending releases the lock)."""
        key = f"outbox:{self.schema}"
        while not await conn.fetchval(  # noqa: ASYNC110 (polls a DB lock, not an Event)
            "SELECT pg_try_advisory_lock(hashtext($1))", key
        ):
            await asyncio.sleep(self.poll_interval_s)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.schema:
            self._wake.set()

    async def _partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            parts = await self.producer.partitions_for(topic)
            if not parts:
                raise RuntimeError(f"topic {topic!r} does not exist")
            self._partitions[topic] = len(parts)
        return self._partitions[topic]

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows, in id order; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value FROM outbox WHERE sent_at IS NULL "
                "ORDER BY id LIMIT $1 FOR UPDATE",
                self.batch_size,
            )
            if not rows:
                metrics.OUTBOX_PENDING.labels(self.schema).set(0)
                return 0
            started = time.perf_counter()
            await self._send(rows)
            metrics.PRODUCE_SECONDS.labels(self.schema).observe(time.perf_counter() - started)
            crash_point("relay.after_send")
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            for topic, count in Counter(row["topic"] for row in rows).items():
                metrics.OUTBOX_PUBLISHED.labels(self.schema, topic).inc(count)
        return len(rows)

    async def _send(self, rows: Sequence[asyncpg.Record]) -> None:
        """Publish `rows` (in id order) and wait for every ack. Records are appended to
        one batch per partition (`send_batch`), in row order, instead of one `send`
        each: the per-record producer path was most of the relay's CPU."""
        futures = []
        open_batches: dict[tuple[str, int], Any] = {}
        for topic in {row["topic"] for row in rows}:
            await self._partition_count(topic)
        partition_of = self._partition_of
        for row in rows:
            topic, key = row["topic"], row["key"]
            partition = partition_of.get((topic, key))
            if partition is None:
                partition = partition_for(key, self._partitions[topic])
                if len(partition_of) >= 100_000:  # bounded: many distinct keys
                    partition_of.clear()
                partition_of[(topic, key)] = partition
            headers = HEADERS  # content-type only, as every producer writes
            batch = open_batches.get((topic, partition))
            if batch is None:
                batch = open_batches[(topic, partition)] = self.producer.create_batch()
            appended = batch.append(key=key, value=row["value"], timestamp=None, headers=headers)
            if appended is None:  # full: submit it (order kept), start the next one
                futures.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = self.producer.create_batch()
                appended = batch.append(
                    key=key, value=row["value"], timestamp=None, headers=headers
                )
                if appended is None:
                    raise RuntimeError(f"outbox row {row['id']} does not fit in a batch")
        for (topic, partition), batch in open_batches.items():
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def recover(self) -> int:
        """Mark unsent rows that are in fact on Kafka already (sent, then crashed
        before marking). Returns how many rows were marked."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, event_id, topic, key FROM outbox WHERE sent_at IS NULL "
                "ORDER BY id LIMIT $1",
                self.recovery_scan_limit,
            )
        metrics.OUTBOX_PENDING.labels(self.schema).set(len(rows))
        if not rows:
            return 0
        wanted: dict[TopicPartition, dict[str, int]] = defaultdict(dict)
        for row in rows:
            tp = TopicPartition(
                row["topic"], partition_for(row["key"], await self._partition_count(row["topic"]))
            )
            wanted[tp][row["event_id"]] = row["id"]
        found: set[int] = set()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        try:
            for tp, rows_by_event_id in wanted.items():
                found |= await self._scan_tail(consumer, tp, rows_by_event_id)
        finally:
            await consumer.stop()
        if found:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", list(found)
                )
            metrics.OUTBOX_RECOVERED.labels(self.schema).inc(len(found))
            log.warning(
                "outbox recovery: %d row(s) were already on Kafka, marked sent",
                len(found),
                extra={"schema": self.schema},
            )
        return len(found)

    async def _scan_tail(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, wanted: dict[str, int]
    ) -> set[int]:
        """Read the partition backwards in windows until we pass below our oldest
        unsent row: a window holding a record of an older row of ours (sent earlier,
        looked up by event id) proves the rows after it that are not on Kafka were
        never sent. Returns the ids of the `wanted` rows (event id -> row id) found."""
        consumer.assign([tp])
        begin = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        oldest = min(wanted.values())
        found: set[int] = set()
        window = 1000
        upper, scanned = end, 0
        while upper > begin and scanned < self.recovery_scan_limit:
            lower = max(begin, upper - window)
            seen = await self._event_ids_between(consumer, tp, lower, upper)
            found |= {wanted[i] for i in seen if i in wanted}
            scanned += upper - lower
            if await self._any_sent_before(seen - wanted.keys(), oldest):
                break
            upper = lower
        return found

    @staticmethod
    async def _event_ids_between(
        consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int
    ) -> set[str]:
        """The CloudEvents ids of the records at offsets [lower, upper) of `tp`."""
        consumer.seek(tp, lower)
        ids: set[str] = set()
        position = lower
        while position < upper:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records = batch.get(tp, [])
            if not records:
                break
            for record in records:
                if record.offset >= upper:
                    return ids
                position = record.offset + 1
                event_id = _event_id(record.value)
                if event_id is not None:
                    ids.add(event_id)
        return ids

    async def _any_sent_before(self, event_ids: set[str], oldest: int) -> bool:
        """Whether any of `event_ids` is a row of this outbox older than `oldest`."""
        if not event_ids:
            return False
        async with self.pool.acquire() as conn:
            older: bool = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = ANY($1::text[]) AND id < $2)",
                list(event_ids),
                oldest,
            )
        return older


def _event_id(value: bytes | None) -> str | None:
    """The `id` of a structured-mode CloudEvents record, None for anything else (a
    record another producer wrote in another shape is simply not one of ours)."""
    try:
        event_id = json.loads(value or b"").get("id")
    except (ValueError, AttributeError):
        return None
    return event_id if isinstance(event_id, str) else None
