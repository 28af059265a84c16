"""The Kafka-native path: raw topics -> canonical topics (same event id) or dead letters.

Runs on msp_plumbing's TransactionalConsumer, which already gives the guarantees the
issue asks for:
* undecodable or invalid records go to `msp.deadletter.v1` with the original bytes,
  key, topic/partition/offset and the reason (JSON pointer included), and the consumer
  keeps going;
* "offsets committed only after the produce is safe": the validated event is written
  to the outbox in the SAME Postgres transaction as the consumed offsets. A crash
  before that commit re-processes the batch; after it, the durable outbox row is
  relayed (idempotent producer, acks=all) until Kafka acknowledged it;
* no duplicate ids on the canonical topic in a replay: `processed_events` drops a
  re-delivered id, and `accepted_events` (shared with the HTTP path) drops an id that
  already came in over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.service import INBOUND_TYPES, NUL_ESCAPE, claim_ids, nul_pointers
from msp_events import Envelope, EventValidationError, FieldError
from msp_events.bounds import EventTimeWindow
from msp_events.topics import RAW_CHANGE_ORDERS, RAW_CONTRACTS, RAW_MONITORING, RAW_TICKETS
from msp_events.tracing import TraceContext
from msp_plumbing.consumer import BatchHandler, Tx

RAW_TOPICS = (RAW_MONITORING, RAW_TICKETS, RAW_CONTRACTS, RAW_CHANGE_ORDERS)


class NotInbound(ValueError):
    """An event type outsiders may not publish (incidents, SLA, billing...)."""


def make_reemit(window: EventTimeWindow) -> BatchHandler:
    """The raw topics' handler, with the window of event times ingest accepts."""

    async def reemit(tx: Tx, events: Sequence[Envelope]) -> None:
        """Re-publish each valid raw event unchanged on its canonical topic. An event of
        a type outsiders may not publish, whose time is outside `window` or that holds a
        NUL character (Postgres cannot store it downstream), fails the
        batch; the plumbing then re-applies it record by record and dead-letters that
        one record with this reason (and, for the time, its pointer `/time`)."""
        now = datetime.now(UTC)
        for event in events:
            if event.type not in INBOUND_TYPES:
                raise NotInbound(f"/type: {event.type!r} may not be published on a raw topic")
            reason = window.violation(event.time, now=now)
            if reason is not None:
                raise EventValidationError([FieldError("/time", reason)])
            value = tx.records[event.id].value or b""
            if NUL_ESCAPE in value:  # what Postgres cannot store downstream
                nul = [
                    FieldError(p, "must not contain a NUL character")
                    for p in nul_pointers(json.loads(value))
                ]
                if nul:
                    raise EventValidationError(nul)
        for event in await claim_ids(conn=tx.conn, events=events):
            # a raw event without trace context starts a trace, as an HTTP request would
            tx.emit(event, cause=None if event.traceparent else TraceContext.new())

    return reemit
