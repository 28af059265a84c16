"""The consumer runner every stateful service uses.

For each batch of records it opens ONE Postgres transaction in which it
1. decodes each record (undecodable -> a dead-letter event in the outbox),
2. skips event ids this group has already applied (`processed_events`),
3. calls the service's handler, which changes state and emits events via `tx.emit`,
4. writes the emitted events to the outbox and the next offsets to `consumer_offsets`,
and commits. On (re)assignment it seeks to the offsets stored in Postgres, never to
Kafka's committed offsets (those are committed too, after the fact and at most once a
second, only so lag is visible to Grafana and KEDA). A crash anywhere therefore either
loses the whole batch (re-consumed on restart) or keeps all of it, outputs included.

A handler exception that is not transient marks a poison record: the batch is
re-applied record by record, and the failing record goes to the dead-letter topic
with the reason, so one bad event never blocks a partition.

Once a batch committed, each of its records gets one log line (`eventlog`: id, type,
customer, outcome, trace id) and the handler's `Tx.on_commit` callbacks run (its
counters: a batch retried or re-applied is counted once). Events a handler emits
continue the trace of the event that caused them (`Tx.emit`).

An event that has to wait for context (a ticket before its customer's contract) is
*parked* by its handler (`Tx.park`): its original record is kept in `parked_records`.
When the context arrives and applying the waiting event fails, the handler
dead-letters that event alone with its own bytes (`Tx.dead_letter_parked`): the
failure is the waiting event's, never the contract's that released it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from msp_events import Envelope, EventValidationError, decode_record, derive_event_id, make_event
from msp_events.bounds import EARLIEST, LATEST
from msp_events.topics import DEAD_LETTER, Topic, topic_for
from msp_events.tracing import TraceContext, continue_trace, trace_of
from msp_events.types.deadletter import DeadLetterRecorded, dead_letter_customer_id
from msp_plumbing import eventlog, metrics, supervise
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import OutboxRecord, enqueue, outbox_record

log = logging.getLogger(__name__)
LAG_REFRESH_S = 5.0
"""How often an idle consumer re-exports its lag (from the high watermarks its fetches
already bring back: no extra broker round trip)."""
KAFKA_COMMIT_EVERY_S = 1.0
"""How often applied offsets are mirrored to Kafka (for lag tooling only: Postgres holds
the truth). Not after every batch: each commit is a broker round trip the next batch
would wait for, and a write to `__consumer_offsets`."""
KAFKA_COMMIT_TIMEOUT_S = 2.0
"""A commit that takes longer is skipped (the next one carries later offsets)."""


class Record(Protocol):
    """The fields of aiokafka's ConsumerRecord we rely on (aiokafka ships no types)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    *supervise.TRANSIENT_ERRORS,
    asyncio.TimeoutError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)
"""Errors worth retrying the same batch for; anything else is a poison record."""


@dataclass(frozen=True)
class DeadLetters:
    """How this consumer names its dead letters (group, service, output topic)."""

    group_id: str
    service: str
    topic: str

    def build(
        self,
        rec: Record,
        reason: str,
        pointer: str | None,
        cause: Envelope | None = None,
    ) -> OutboxRecord:
        """The dead letter of `rec`: its original bytes, the reason, the pointer."""
        reason = (reason or "unknown")[:10_000]
        # record time, not wall time: a replay must produce identical bytes; clamped
        # into the contract's window (a producer may stamp records with any time)
        at = datetime.fromtimestamp(rec.timestamp / 1000, UTC)
        at = min(max(at, EARLIEST), LATEST - timedelta(seconds=1))
        letter = DeadLetterRecorded.from_record(
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            key=rec.key,
            value=rec.value,
            headers=rec.headers,
            reason=reason,
            error_pointer=pointer,
            consumer_group=self.group_id,
            service=self.service,
            failed_at=at,
        )
        event = make_event(
            letter,
            customer_id=dead_letter_customer_id(rec.key),
            source=f"/{self.service}/{self.group_id}",
            time=at,
            id=derive_event_id(
                "dead-letter", self.group_id, rec.topic, str(rec.partition), str(rec.offset)
            ),
            cause=cause,  # a poison event's trace leads to its dead letter
        )
        out = outbox_record(event, topic=self.topic)
        # keep the original key so the dead letter lands next to the customer's data
        return OutboxRecord(out.event_id, out.topic, rec.key or b"", out.value)


@dataclass
class Tx:
    """What a handler gets: the open connection (its transaction commits together with
    the offsets), `emit` to publish events through the outbox, and `park` /
    `dead_letter_parked` for events that wait for context."""

    conn: asyncpg.Connection
    namespace: str
    outbox: list[OutboxRecord] = field(default_factory=list)
    inputs: Mapping[str, Envelope] = field(default_factory=dict)
    """The batch's new events by id (what `emit(..., cause=<id>)` looks up)."""
    cause: Envelope | None = None
    """The event a per-event `Handler` is applying: the default cause of what it emits."""
    records: dict[str, Record] = field(default_factory=dict)
    """The consumed record of each event of this batch, by event id."""
    dead_letters: DeadLetters | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    """What the handler did with an input (by event id), for its log line (`eventlog`);
    "applied" when not set."""
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    """Run once the transaction committed (`committed`), never for one rolled back:
    a handler's counters of what it did, so a batch retried after a transient error,
    or re-applied record by record around a poison record, is counted once."""
    _traces: dict[str, TraceContext | None] = field(default_factory=dict, repr=False)
    """The trace of each cause by event id, parsed once per batch (a cause may have
    many consequences)."""
    _topics: dict[str, str] = field(default_factory=dict, repr=False)

    def committed(self) -> None:
        """Called by whoever owns the transaction (the consumer), after its commit."""
        for callback in self.on_commit:
            callback()

    def emit(
        self,
        event: Envelope,
        *,
        topic: Topic | str | None = None,
        cause: Envelope | TraceContext | str | None = None,
    ) -> None:
        """Queue `event` for its canonical topic (or `topic`). Give it a deterministic
        id (`derive_event_id`) so a replay re-emits the same id and is dropped.
        Without a trace of its own, `event` continues the trace of `cause` (an input
        event, or the id of one of this batch's inputs), by default the event being
        handled; a batch handler names the cause, since a batch has many. A
        `TraceContext` puts the event in that trace."""
        if event.traceparent is None:
            origin = self.inputs.get(cause) if isinstance(cause, str) else cause
            origin = origin or self.cause
            if isinstance(origin, Envelope):
                if origin.id not in self._traces:
                    self._traces[origin.id] = trace_of(origin)
                origin = self._traces[origin.id]
            event = continue_trace(event, origin)
        if topic is None:
            name = self._topics.get(event.type) or self._topics.setdefault(
                event.type, topic_for(event.type).named(self.namespace)
            )
        elif isinstance(topic, str):
            name = topic
        else:
            name = topic.named(self.namespace)
        self.outbox.append(outbox_record(event, topic=name))

    async def park(self, event_ids: Iterable[str]) -> None:
        """Keep the original records of these events of this batch: they wait for
        context, and if applying them later fails they are dead-lettered with these
        bytes (`dead_letter_parked`). Parking an event twice keeps the first record."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return
        group = self._letters().group_id
        rows = [(group, eid, self.records[eid]) for eid in ids]
        await self.conn.executemany(
            """INSERT INTO parked_records (group_id, event_id, topic, partition, "offset",
                                           timestamp_ms, key, value, header_names,
                                           header_values)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
            [
                (
                    g,
                    eid,
                    r.topic,
                    r.partition,
                    r.offset,
                    r.timestamp,
                    r.key,
                    r.value or b"",
                    [k for k, _ in r.headers],
                    [v for _, v in r.headers],
                )
                for g, eid, r in rows
            ],
        )

    async def unpark(self, event_ids: Iterable[str]) -> None:
        """Forget the parked records of these events: they have been applied."""
        await self.conn.execute(
            "DELETE FROM parked_records WHERE group_id = $1 AND event_id = ANY($2::text[])",
            self._letters().group_id,
            list(event_ids),
        )

    async def dead_letter_parked(self, event_ids: Iterable[str], *, reason: str) -> list[str]:
        """Dead-letter the parked events `event_ids` with their own original bytes and
        `reason`, and forget them. Returns the ids that were parked (the others were
        never parked: nothing to send)."""
        letters = self._letters()
        rows = await self.conn.fetch(
            """DELETE FROM parked_records WHERE group_id = $1 AND event_id = ANY($2::text[])
               RETURNING event_id, topic, partition, "offset", timestamp_ms, key, value,
                         header_names, header_values""",
            letters.group_id,
            list(event_ids),
        )
        for row in sorted(rows, key=lambda r: (r["topic"], r["partition"], r["offset"])):
            self.outbox.append(letters.build(_parked_record(row), reason, None))
        return [r["event_id"] for r in rows]

    def _letters(self) -> DeadLetters:
        if self.dead_letters is None:
            raise RuntimeError("parking needs a Tx built by TransactionalConsumer")
        return self.dead_letters


def _parked_record(row: asyncpg.Record) -> Record:
    """A row of `parked_records` as the record the consumer got (aiokafka's own record
    type; the timestamp type is not kept: a dead letter uses the time only)."""
    key, value = row["key"], row["value"]
    record: Record = ConsumerRecord(
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        timestamp=row["timestamp_ms"],
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=-1 if key is None else len(key),
        serialized_value_size=-1 if value is None else len(value),
        headers=list(zip(row["header_names"], row["header_values"], strict=True)),
    )
    return record


Handler = Callable[[Tx, Envelope], Awaitable[None]]
"""Applies one event. Simple; costs a round trip per statement per event."""
BatchHandler = Callable[[Tx, Sequence[Envelope]], Awaitable[None]]
"""Applies all new events of a batch at once (in partition order per customer), so a
service can write set-based (unnest/executemany) when it needs throughput."""


@dataclass
class _Decoded:
    record: Record
    event: Envelope | None
    error: str | None = None
    pointer: str | None = None
    failed: Envelope | None = None  # a poison event, dead-lettered: for its log line


class TransactionalConsumer:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        service: str,
        schema: str,
        namespace: str = "",
        batch_size: int = 500,
        retry_backoff_s: float = 1.0,
        retry_for_s: float = 30.0,
    ) -> None:
        self.pool = pool
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = list(topics)
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler and batch_handler")
        self.handler = handler
        self.batch_handler = batch_handler
        self.service = service
        self.schema = schema
        self.namespace = namespace
        self.batch_size = batch_size
        self.retry_backoff_s = retry_backoff_s
        self.retry_for_s = retry_for_s  # then the error goes to the supervisor (restart)
        self._assign_error: BaseException | None = None
        self.dead_letter_topic = DEAD_LETTER.named(namespace)
        self.dead_letters = DeadLetters(group_id, service, self.dead_letter_topic)
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        # next offset to apply per owned partition (seeked or committed): the lag base
        self._next: dict[TopicPartition, int] = {}
        self._uncommitted: dict[TopicPartition, int] = {}  # applied, not yet on Kafka
        self._kafka_commit_due = 0.0

    async def run(self) -> None:
        """Consume until cancelled. A batch hit by a transient error is retried here for
        `retry_for_s`; after that, or when the partitions could not be positioned from
        Postgres, the error leaves `run` and the runtime's supervisor starts it again
        (a fresh Kafka consumer that seeks to the offsets in Postgres)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.service}-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        self._consumer = consumer
        await consumer.start()
        lag_due = 0.0
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                if self._assign_error is not None:
                    error, self._assign_error = self._assign_error, None
                    raise error
                if batch:
                    async with self._lock:
                        await self._handle_batch(consumer, batch)
                else:
                    if self._uncommitted:  # idle: what the last batches applied
                        await self.commit_to_kafka(consumer)
                    if time.monotonic() >= lag_due:
                        # idle: the producer side may still move (lag grows while we wait)
                        self.export_lag(consumer)
                        lag_due = time.monotonic() + LAG_REFRESH_S
        finally:
            self._consumer = None
            try:
                async with asyncio.timeout(5):  # leaving the group needs the broker
                    await self.commit_to_kafka(consumer)
                    await consumer.stop()
            except Exception as exc:
                log.info("consumer %s did not stop cleanly: %r", self.group_id, exc)

    # -- one batch ---------------------------------------------------------------

    async def _handle_batch(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Record]]
    ) -> None:
        owned = consumer.assignment()
        batch = {tp: recs for tp, recs in batch.items() if tp in owned and recs}
        if not batch:
            return
        decoded = [self._decode(r) for recs in batch.values() for r in recs]
        started = time.perf_counter()
        attempt, failing_since = 0, time.monotonic()
        while True:
            try:
                try:
                    await self._apply(decoded)
                except TRANSIENT_ERRORS:
                    raise
                except Exception:
                    log.exception("batch failed; re-applying record by record")
                    await self._apply_one_by_one(decoded)
                break
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() - failing_since > self.retry_for_s:
                    raise  # the supervisor restarts the consumer, with its own backoff
                metrics.CONSUMER_RETRIES.labels(self.group_id).inc()
                if attempt == 0:  # one line per outage, not one per retry
                    log.warning("transient error, retrying batch: %r", exc)
                await asyncio.sleep(min(self.retry_backoff_s * 2**attempt, 5.0))
                attempt += 1
        metrics.BATCH_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items()}
        await self._after_commit(consumer, offsets)

    async def _apply_one_by_one(self, decoded: list[_Decoded]) -> None:
        for item in decoded:
            try:
                await self._apply([item])
            except TRANSIENT_ERRORS:
                raise
            except EventValidationError as exc:  # a handler's own check, naming the field
                log.warning(
                    "invalid record sent to dead letters: %s",
                    exc,
                    extra={"event_id": item.event.id if item.event else None},
                )
                item.failed, item.event = item.event, None
                item.error = f"invalid event: {exc}"
                item.pointer = exc.errors[0].pointer if exc.errors else None
                await self._apply([item])
            except Exception as exc:
                log.exception(
                    "poison record sent to dead letters",
                    extra={"event_id": item.event.id if item.event else None},
                )
                item.failed, item.event = item.event, None
                item.error = f"handler failed: {type(exc).__name__}: {exc}"
                await self._apply([item])

    async def _apply(self, items: list[_Decoded]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self._claim_ids(conn, [i.event.id for i in items if i.event])
            outbox: list[OutboxRecord] = []
            new: list[Envelope] = []
            outcomes: Counter[tuple[str, str]] = Counter()
            dead_reasons: Counter[tuple[str, str]] = Counter()
            handled: list[tuple[_Decoded, str]] = []
            for item in items:
                if item.event is None:
                    outbox.append(
                        self.dead_letters.build(
                            item.record, item.error or "", item.pointer, item.failed
                        )
                    )
                    outcome = "dead_lettered"
                    reason_kind = (item.error or "unknown").split(":", 1)[0]
                    dead_reasons[(item.record.topic, reason_kind)] += 1
                elif item.event.id not in fresh:
                    outcome = "duplicate"
                else:
                    fresh.discard(item.event.id)  # a second copy in this batch is a duplicate
                    new.append(item.event)
                    outcome = "applied"
                outcomes[(item.record.topic, outcome)] += 1
                handled.append((item, outcome))
            tx = Tx(
                conn=conn,
                namespace=self.namespace,
                inputs={e.id: e for e in new},
                records={e.id: i.record for i in items if (e := i.event) is not None},
                dead_letters=self.dead_letters,
            )
            if self.batch_handler is not None:
                if new:
                    await self.batch_handler(tx, new)
            else:
                assert self.handler is not None
                for event in new:
                    tx.cause = event
                    await self.handler(tx, event)
            outbox.extend(tx.outbox)
            await enqueue(conn, self.schema, outbox)
            await self._store_offsets(conn, items)
            crash_point("consumer.before_commit")
        crash_point("consumer.after_commit")
        tx.committed()
        for (topic, outcome), count in outcomes.items():  # counted once committed
            metrics.CONSUMED.labels(self.group_id, topic, outcome).inc(count)
        for (topic, reason_kind), count in dead_reasons.items():
            metrics.DEAD_LETTERS.labels(self.group_id, topic, reason_kind).inc(count)
        if eventlog.enabled():
            for item, outcome in handled:
                if outcome == "applied" and item.event is not None:
                    outcome = tx.outcomes.get(item.event.id, outcome)
                self._log_handled(item, outcome)

    def _log_handled(self, item: _Decoded, outcome: str) -> None:
        rec = item.record
        event = item.event or item.failed
        where: dict[str, object] = (
            {} if event else {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}
        )
        if outcome == "dead_lettered":
            where["reason"] = (item.error or "unknown")[:300]
        eventlog.handled(event, outcome=outcome, group=self.group_id, **where)

    async def _claim_ids(self, conn: asyncpg.Connection, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = await conn.fetch(
            """INSERT INTO processed_events (group_id, event_id)
               SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING event_id""",
            self.group_id,
            ids,
        )
        return {r["event_id"] for r in rows}

    async def _store_offsets(self, conn: asyncpg.Connection, items: list[_Decoded]) -> None:
        nxt: dict[tuple[str, int], int] = {}
        for item in items:
            key = (item.record.topic, item.record.partition)
            nxt[key] = max(nxt.get(key, 0), item.record.offset + 1)
        await conn.execute(  # one statement for every partition of the batch
            """INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
               SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS r(t, p, o)
               ON CONFLICT (group_id, topic, partition) DO UPDATE
               SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset),
                   updated_at = now()""",
            self.group_id,
            [t for t, _ in nxt],
            [p for _, p in nxt],
            list(nxt.values()),
        )

    async def _after_commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        """Export lag; mirror offsets to Kafka (for lag tooling) at most every
        `KAFKA_COMMIT_EVERY_S` (and when idle, revoked or stopping)."""
        for tp, nxt in offsets.items():
            self._next[tp] = max(self._next.get(tp, 0), nxt)
            self._uncommitted[tp] = max(self._uncommitted.get(tp, 0), nxt)
        if time.monotonic() >= self._kafka_commit_due:
            await self.commit_to_kafka(consumer)
        self.export_lag(consumer)

    async def commit_to_kafka(
        self, consumer: AIOKafkaConsumer, only: set[TopicPartition] | None = None
    ) -> None:
        """Best effort: commit the applied offsets not on Kafka yet (of `only`, if
        given) for the partitions still owned."""
        owned = consumer.assignment()
        offsets = {
            tp: nxt
            for tp, nxt in self._uncommitted.items()
            if tp in owned and (only is None or tp in only)
        }
        for tp in offsets if only is not None else list(self._uncommitted):
            self._uncommitted.pop(tp, None)
        if only is None:
            self._kafka_commit_due = time.monotonic() + KAFKA_COMMIT_EVERY_S
        if not offsets:
            return
        try:
            async with asyncio.timeout(KAFKA_COMMIT_TIMEOUT_S):
                await consumer.commit(offsets)
        except Exception as exc:  # Postgres holds the truth; this is only for tooling
            log.info("kafka offset commit skipped: %r", exc)

    def export_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Set `msp_consumer_lag_records` for every owned partition: the last high
        watermark a fetch reported minus the next offset to apply."""
        for tp, nxt in self._next.items():
            high = consumer.highwater(tp)
            if high is not None:
                metrics.CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(
                    max(0, high - nxt)
                )

    # -- decoding and dead letters -----------------------------------------------

    def _decode(self, record: Record) -> _Decoded:
        try:
            return _Decoded(record, decode_record(record.key, record.value))
        except EventValidationError as exc:
            pointer = exc.errors[0].pointer if exc.errors else None
            return _Decoded(record, None, f"invalid event: {exc}", pointer)

    # -- rebalancing ---------------------------------------------------------------

    async def _load_offsets(self, tps: set[TopicPartition]) -> dict[TopicPartition, int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1",
                self.group_id,
            )
        stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        return {tp: stored[tp] for tp in tps if tp in stored}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: TransactionalConsumer) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Wait for the batch in flight: its transaction must finish before another
        # instance can be handed these partitions.
        async with self.runner._lock:
            pass
        consumer = self.runner._consumer
        if consumer is not None:  # what we applied, for the next owner's lag tooling
            await self.runner.commit_to_kafka(consumer, only=revoked)
        for tp in revoked:  # another instance reports these partitions now
            self.runner._next.pop(tp, None)
            self.runner._uncommitted.pop(tp, None)
            with contextlib.suppress(KeyError):  # never exported for this partition
                metrics.CONSUMER_LAG.remove(self.runner.group_id, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self.runner._consumer
        assert consumer is not None
        try:
            async with asyncio.timeout(10):
                stored = await _retrying(lambda: self.runner._load_offsets(set(assigned)))
        except Exception as exc:  # aiokafka would only log it: hand it to `run`
            log.warning("could not load offsets for the assignment: %r", exc)
            self.runner._assign_error = exc
            consumer.pause(*assigned)  # nothing is read from unpositioned partitions
            return
        # No row in Postgres means no state yet: start from the beginning, even if
        # Kafka remembers a committed offset (e.g. after a rebuild).
        fresh = [tp for tp in assigned if tp not in stored]
        first = await consumer.beginning_offsets(fresh) if fresh else {}
        for tp in assigned:
            consumer.seek(tp, stored[tp] if tp in stored else first[tp])
            self.runner._next[tp] = stored[tp] if tp in stored else first[tp]
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


async def _retrying(
    step: Callable[[], Awaitable[dict[TopicPartition, int]]],
) -> dict[TopicPartition, int]:
    """`step()` again after a transient error, until it succeeds or is cancelled."""
    delay = 0.2
    while True:
        try:
            return await step()
        except TRANSIENT_ERRORS:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
