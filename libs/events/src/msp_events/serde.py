"""Serialisation to and from Kafka records, and building events.

A record is structured-mode CloudEvents JSON; the key is the customer id as UTF-8
(the dead-letter topic keeps the original record's key). Decoding errors say which
field failed, as a JSON pointer (`/data/priority`) plus pydantic's message.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from msp_events.base import EventData
from msp_events.bounds import EARLIEST, LATEST
from msp_events.envelope import SPECVERSION, Envelope, dataschema_for
from msp_events.registry import ANY_EVENT, ENVELOPES, envelope_class
from msp_events.tracing import TraceContext, trace_of
from msp_events.trusted import construct

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
HEADERS: list[tuple[str, bytes]] = [("content-type", CONTENT_TYPE.encode())]

# Fixed namespace: derived ids must be identical across processes, hosts and replays.
EVENT_ID_NAMESPACE = uuid.UUID("0d6f3a3e-6a47-5b1c-9a57-4d5350000001")


@dataclass(frozen=True)
class FieldError:
    pointer: str  # JSON pointer into the record, "" for the whole document
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class EventValidationError(ValueError):
    """An input that is not a valid event. `errors` names every failing field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, prefix: str = "") -> EventValidationError:
        errors = []
        for err in exc.errors(include_url=False):
            loc = list(err["loc"])
            # A discriminated union puts the chosen tag first: drop it from the path.
            if loc and loc[0] in ENVELOPES:
                loc = loc[1:]
            message = err["msg"]
            if err["type"] == "union_tag_invalid":
                loc, message = ["type"], f"unknown event type {err.get('ctx', {}).get('tag')!r}"
            elif err["type"] == "union_tag_not_found":
                loc, message = ["type"], "Field required"
            pointer = prefix + "".join(f"/{part}" for part in loc)
            errors.append(FieldError(pointer, message))
        return cls(errors)


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def derive_event_id(*parts: str) -> str:
    """A deterministic event id from the ids of what caused it, e.g.
    ``derive_event_id(incident_id, "opened")``. Replays produce the same ids, which is
    what makes downstream dedupe by id work."""
    # uuid.uuid5(EVENT_ID_NAMESPACE, name), computed without building UUID objects
    # (this runs several times per consumed event): SHA-1 of namespace + name, the
    # first 16 bytes, version 5 and the RFC 4122 variant bits set.
    digest = _NAMESPACE_SHA1.copy()
    digest.update("\x1f".join(parts).encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes, usedforsecurity=False)


def make_event(
    data: EventData,
    *,
    customer_id: str,
    source: str,
    time: datetime,
    subject: str | None = None,
    id: str | None = None,
    cause: Envelope | TraceContext | None = None,
    trusted: bool = False,
) -> Envelope:
    """Wrap a payload in its envelope. Without `id`, a random UUID is used: pass a
    derived id whenever the event is a consequence of another event, and that event
    (or its trace) as `cause`: the new event continues its trace (`tracing`).

    `trusted=True` skips validating the envelope again, for a consumer's hot path: the
    caller vouches that `customer_id`, `source`, `subject` and `id` are valid (taken
    from a validated event, a constant, `derive_event_id`) and `data` is a validated
    payload. `time` is checked (UTC and inside the contract's window; otherwise the
    event is validated as usual). The result is the validated event, byte for byte
    (`tests/test_trusted.py`)."""
    event_id = id or str(uuid.uuid4())
    parent = trace_of(cause) if isinstance(cause, Envelope) else cause
    trace = parent.child(event_id) if parent is not None else None
    if trusted and type(time) is datetime and time.tzinfo is UTC and EARLIEST <= time < LATEST:
        event_type = data.event_type
        return construct(
            envelope_class(event_type),
            {
                "specversion": SPECVERSION,
                "id": event_id,
                "source": source,
                "type": event_type,
                "time": time,
                "subject": subject,
                "datacontenttype": "application/json",
                "dataschema": _DATASCHEMAS[event_type],
                "customer_id": customer_id,
                "traceparent": trace.traceparent if trace else None,
                "tracestate": trace.state if trace else None,
                "data": data,
            },
            _GIVEN,
        )
    try:
        return envelope_class(data.event_type)(
            id=event_id,
            source=source,
            type=data.event_type,
            time=time,
            subject=subject,
            customer_id=customer_id,
            traceparent=trace.traceparent if trace else None,
            tracestate=trace.state if trace else None,
            data=data,
        )
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc) from None


_DATASCHEMAS = {event_type: dataschema_for(event_type) for event_type in ENVELOPES}
_GIVEN = frozenset(
    ("id", "source", "type", "time", "subject", "customer_id", "traceparent", "tracestate", "data")
)
"""The fields `make_event` passes to the envelope: what validation marks as set."""


def parse_event(obj: Any) -> Envelope:
    """Validate a decoded JSON object (dict) as an event."""
    try:
        event: Envelope = ANY_EVENT.validate_python(obj)
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc) from None
    return event


def decode(value: bytes | str) -> Envelope:
    """Parse structured-mode CloudEvents JSON into its typed envelope."""
    try:
        event: Envelope = ANY_EVENT.validate_json(value)
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc) from None
    return event


def encode_value(event: Envelope) -> bytes:
    # what model_dump_json(by_alias=True, exclude_none=True).encode() returns, without
    # the str round trip
    value: bytes = event.__pydantic_serializer__.to_json(event, by_alias=True, exclude_none=True)
    return value


def to_json_obj(event: Envelope) -> dict[str, Any]:
    dumped: dict[str, Any] = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def encode(event: Envelope) -> KafkaRecord:
    return KafkaRecord(key=event.customer_id.encode(), value=encode_value(event), headers=HEADERS)


def decode_record(key: bytes | None, value: bytes | None) -> Envelope:
    """Decode a consumed record and check the key is the event's customer id (records
    keyed otherwise would break co-partitioning)."""
    if value is None:
        raise EventValidationError([FieldError("", "record has no value (tombstone)")])
    event = decode(value)
    if key is not None and key != event.customer_id.encode():
        raise EventValidationError([FieldError("/customerid", "does not match the record key")])
    return event
