"""msp_events: the contract every service speaks.

- `envelope.Envelope`: the CloudEvents 1.0 envelope; `registry.AnyEvent` the union.
- `types/`: the payloads, one module per domain.
- `topics.TOPICS`: the topic registry.
- `serde`: to and from Kafka records.
- `tracing`: the W3C trace context an event carries, and how derived events keep it.
- `catalogue`: writes docs/events (JSON Schemas, AsyncAPI, catalogue.md).
"""

from msp_events.envelope import Envelope
from msp_events.registry import ANY_EVENT, ENVELOPES, PAYLOADS, AnyEvent
from msp_events.serde import (
    EventValidationError,
    FieldError,
    KafkaRecord,
    decode,
    decode_record,
    derive_event_id,
    encode,
    make_event,
    parse_event,
)
from msp_events.topics import TOPICS, Topic, topic_for

__all__ = [
    "ANY_EVENT",
    "ENVELOPES",
    "PAYLOADS",
    "TOPICS",
    "AnyEvent",
    "Envelope",
    "EventValidationError",
    "FieldError",
    "KafkaRecord",
    "Topic",
    "decode",
    "decode_record",
    "derive_event_id",
    "encode",
    "make_event",
    "parse_event",
    "topic_for",
]
