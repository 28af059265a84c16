"""Where triage output goes: ONE Postgres transaction per batch holding the outbox rows
(relayed to Kafka by the plumbing's OutboxRelay) and the triage log.

Faust runs at-least-once: after a crash a batch may be triaged again. Its outputs then
carry the same deterministic ids, which the outbox (unique event_id) and the triage log
(primary key event_id) drop, so downstream never sees an id twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from incidents.outputs import LogRow
from msp_events import derive_event_id, make_event
from msp_events.types.deadletter import DeadLetterRecorded, dead_letter_customer_id
from msp_plumbing.outbox import OutboxRecord, enqueue, outbox_record


@dataclass(frozen=True)
class RawRecord:
    """A consumed record, as the agent hands it over (Faust's message, decoupled)."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds
    key: bytes | None
    value: bytes | None


class Sink(Protocol):
    async def write(self, outbox: Sequence[OutboxRecord], log: Sequence[LogRow]) -> None: ...


@dataclass
class MemorySink:
    """Collects what would be written; for the agent tests that run without Postgres."""

    outbox: list[OutboxRecord] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)

    async def write(self, outbox: Sequence[OutboxRecord], log: Sequence[LogRow]) -> None:
        known = {r.event_id for r in self.outbox}
        self.outbox.extend(r for r in outbox if r.event_id not in known)
        self.log.extend(log)


class PostgresSink:
    def __init__(self, pool: asyncpg.Pool, *, schema: str) -> None:
        self.pool = pool
        self.schema = schema

    async def write(self, outbox: Sequence[OutboxRecord], log: Sequence[LogRow]) -> None:
        if not outbox and not log:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await enqueue(conn, self.schema, outbox)
            if log:
                rows = _last_per_id(log)
                await conn.execute(
                    """INSERT INTO triage_log (event_id, customer_id, fingerprint, outcome,
                           reason, incident_id, at, check_kind, severity, device_id, site_id)
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                           $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[],
                           $10::text[], $11::text[])
                       ON CONFLICT (event_id) DO UPDATE SET outcome = EXCLUDED.outcome,
                           reason = EXCLUDED.reason, incident_id = EXCLUDED.incident_id,
                           check_kind = EXCLUDED.check_kind, severity = EXCLUDED.severity,
                           device_id = EXCLUDED.device_id, site_id = EXCLUDED.site_id
                       WHERE triage_log.outcome = 'pending'""",
                    *[list(column) for column in zip(*(_row(r) for r in rows), strict=True)],
                )


def _row(r: LogRow) -> tuple[object, ...]:
    return (
        r.event_id,
        r.customer_id,
        r.fingerprint,
        r.outcome,
        r.reason,
        r.incident_id,
        r.at,
        r.check_kind,
        r.severity,
        r.device_id,
        r.site_id,
    )


def _last_per_id(log: Sequence[LogRow]) -> list[LogRow]:
    # One row per input event: the first outcome is the truth (a second copy of the same
    # event is a duplicate of it), except "pending", which the contract's arrival later
    # in the same batch turns into the real outcome.
    final: dict[str, LogRow] = {}
    for row in log:
        seen = final.get(row.event_id)
        if seen is None or seen.outcome == "pending":
            final[row.event_id] = row
    return list(final.values())


def dead_letter(
    record: RawRecord, reason: str, pointer: str | None, *, topic: str, group: str
) -> OutboxRecord:
    """A dead-letter outbox row for an input that is not a valid event: kept with its
    bytes and the reason, never silently dropped; its id is derived from the position."""
    at = datetime.fromtimestamp(record.timestamp, UTC)
    letter = DeadLetterRecorded.from_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=[],
        reason=reason[:10_000],
        error_pointer=pointer,
        consumer_group=group,
        service="incidents",
        failed_at=at,
    )
    event = make_event(
        letter,
        customer_id=dead_letter_customer_id(record.key),
        source=f"/incidents/{group}",
        time=at,
        id=derive_event_id(
            "dead-letter", group, record.topic, str(record.partition), str(record.offset)
        ),
    )
    out = outbox_record(event, topic=topic)
    return OutboxRecord(out.event_id, out.topic, record.key or b"", out.value)
