"""Dead-letter records, on `msp.deadletter.v1`.

Built by the shared consumer plumbing (in any service, ingest included) when a record
cannot be accepted: it does not decode, fails validation, or its key does not match.
Bad input is never silently dropped and never crashes a consumer (DESIGN.md): the
original bytes are kept exactly, with the reason, so the record can be inspected, fixed
and replayed. Consumed by people and external tooling.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from msp_events.base import EventData, Identifier, UtcDatetime

UNKNOWN_CUSTOMER = "unknown"
"""The envelope `customer_id` of a dead letter whose original key is not a valid
customer id (or is missing)."""


def _check_b64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be standard base64 (RFC 4648, with padding)") from exc
    return value


Base64Bytes = Annotated[str, AfterValidator(_check_b64)]
"""Bytes as standard base64 text: JSON cannot carry arbitrary bytes verbatim."""

JsonPointer = Annotated[str, Field(pattern=r"^(/[^/]*)*$", max_length=1024)]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def dead_letter_customer_id(original_key: bytes | None) -> str:
    """The `customer_id` for a dead letter's envelope: the original record's key when it
    is a valid customer id (so the dead letter lands on the same partition as the
    customer's other records), else `UNKNOWN_CUSTOMER`."""
    if original_key is None:
        return UNKNOWN_CUSTOMER
    try:
        return _IDENTIFIER.validate_python(original_key.decode("utf-8"))
    except (UnicodeDecodeError, ValidationError):
        return UNKNOWN_CUSTOMER


class DeadLetterRecorded(EventData):
    """A consumed record was rejected, and here it is, byte for byte, with why.

    Emitted by the consumer plumbing of whichever service rejected the record. The
    dead-letter topic is keyed by the original record's key; the envelope's
    `customer_id` is that key when it is a valid identifier, else ``"unknown"``
    (see `dead_letter_customer_id`): a record too broken to name its customer must
    still be kept. `original_value_b64` is empty for a tombstone (no value).
    """

    event_type: ClassVar[str] = "msp.deadletter.recorded.v1"

    original_topic: str = Field(min_length=1, max_length=249)  # Kafka's topic name limit
    original_partition: int = Field(ge=0)
    original_offset: int = Field(ge=0)
    original_key_b64: Base64Bytes | None = None
    original_value_b64: Base64Bytes
    original_headers: dict[str, Base64Bytes] | None = Field(
        default=None,
        description="Header values as base64; a repeated header name keeps its last value",
    )
    reason: str = Field(min_length=1, max_length=10_000, description="Human-readable")
    error_pointer: JsonPointer | None = Field(
        default=None, description="JSON pointer of the failing field, e.g. /data/priority"
    )
    consumer_group: str = Field(min_length=1, max_length=256)
    service: str = Field(min_length=1, max_length=128)
    failed_at: UtcDatetime

    @classmethod
    def from_record(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]] | None,
        reason: str,
        error_pointer: str | None,
        consumer_group: str,
        service: str,
        failed_at: datetime,
    ) -> DeadLetterRecorded:
        """Build the dead letter for a consumed record, encoding its bytes."""
        return cls(
            original_topic=topic,
            original_partition=partition,
            original_offset=offset,
            original_key_b64=None if key is None else _b64(key),
            original_value_b64=_b64(value or b""),
            original_headers=None if headers is None else {k: _b64(v) for k, v in headers},
            reason=reason,
            error_pointer=error_pointer,
            consumer_group=consumer_group,
            service=service,
            failed_at=failed_at,
        )

    def original_key(self) -> bytes | None:
        return None if self.original_key_b64 is None else base64.b64decode(self.original_key_b64)

    def original_value(self) -> bytes:
        return base64.b64decode(self.original_value_b64)


EVENTS: tuple[type[EventData], ...] = (DeadLetterRecorded,)
