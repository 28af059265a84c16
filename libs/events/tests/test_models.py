"""Generic tests over every event type (parametrized over `PAYLOADS`, so a new event
type is covered automatically): round trips, missing and mistyped fields, extra
fields, naive datetimes, JSON Schema generation."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from msp_events import serde
from msp_events.envelope import Envelope
from msp_events.registry import ENVELOPES, PAYLOADS
from msp_events.samples import sample_events
from msp_events.serde import EventValidationError, FieldError
from msp_events.topics import topic_for

SampleObj = Callable[[str], dict[str, Any]]
ExpectError = Callable[..., list[FieldError]]

TYPES = sorted(PAYLOADS)

REQUIRED_FIELDS = [
    (event_type, name)
    for event_type in TYPES
    for name, field in PAYLOADS[event_type].model_fields.items()
    if field.is_required()
]
ALL_FIELDS = [
    (event_type, name) for event_type in TYPES for name in PAYLOADS[event_type].model_fields
]


def _is_datetime(schema: dict[str, Any]) -> bool:
    """Whether a property's JSON Schema is a date-time (possibly nullable)."""
    options = schema.get("anyOf", [schema])
    return any(option.get("format") == "date-time" for option in options)


DATETIME_FIELDS = [
    (event_type, name)
    for event_type in TYPES
    for name, prop in PAYLOADS[event_type].model_json_schema()["properties"].items()
    if _is_datetime(prop)
]


def _id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}:{pair[1]}"


def test_samples_cover_every_event_type() -> None:
    assert {event.type for event in sample_events()} == set(PAYLOADS)


def test_datetime_fields_are_found() -> None:
    # Guards the detection used to parametrize the datetime tests below.
    assert ("msp.ticket.created.v1", "opened_at") in DATETIME_FIELDS
    assert ("msp.change_order.approved.v1", "valid_until") in DATETIME_FIELDS


def test_every_type_has_a_required_data_field() -> None:
    # Otherwise the missing-field test below would silently skip a type.
    assert {event_type for event_type, _ in REQUIRED_FIELDS} == set(PAYLOADS)


@pytest.mark.parametrize("event_type", TYPES)
def test_sample_round_trips_through_kafka_record(
    event_type: str, samples: dict[str, Envelope]
) -> None:
    event = samples[event_type]
    record = serde.encode(event)
    assert record.key == event.customer_id.encode()
    decoded = serde.decode_record(record.key, record.value)
    assert decoded == event
    assert type(decoded.data) is PAYLOADS[event_type]
    assert serde.encode(decoded).value == record.value  # byte-stable re-encoding


@pytest.mark.parametrize("event_type", TYPES)
def test_sample_round_trips_through_json_object(
    event_type: str, samples: dict[str, Envelope]
) -> None:
    event = samples[event_type]
    obj = serde.to_json_obj(event)
    assert json.loads(json.dumps(obj)) == obj  # plain JSON, no Decimal/datetime objects
    assert serde.parse_event(obj) == event


@pytest.mark.parametrize("event_type", TYPES)
def test_sample_is_published_on_its_canonical_topic(event_type: str) -> None:
    assert PAYLOADS[event_type] in topic_for(event_type).event_types


@pytest.mark.parametrize(("event_type", "field"), REQUIRED_FIELDS, ids=map(_id, REQUIRED_FIELDS))
def test_missing_required_field_is_named(
    event_type: str, field: str, expect_error: ExpectError
) -> None:
    expect_error(event_type, lambda data: data.pop(field), f"/data/{field}", "Field required")


@pytest.mark.parametrize(("event_type", "field"), REQUIRED_FIELDS, ids=map(_id, REQUIRED_FIELDS))
def test_missing_required_field_is_named_when_decoding_bytes(
    event_type: str, field: str, sample_obj: SampleObj
) -> None:
    obj = sample_obj(event_type)
    del obj["data"][field]
    with pytest.raises(EventValidationError) as info:
        serde.decode(json.dumps(obj).encode())
    pointers = [e.pointer for e in info.value.errors]
    assert f"/data/{field}" in pointers


@pytest.mark.parametrize(("event_type", "field"), ALL_FIELDS, ids=map(_id, ALL_FIELDS))
def test_wrong_type_is_named(event_type: str, field: str, sample_obj: SampleObj) -> None:
    obj = sample_obj(event_type)
    obj["data"][field] = [[["junk"]]]  # a nested list is the wrong type for every field
    with pytest.raises(EventValidationError) as info:
        serde.parse_event(obj)
    errors = info.value.errors
    pointer = f"/data/{field}"
    assert any(e.pointer == pointer or e.pointer.startswith(pointer + "/") for e in errors), errors
    assert all(e.pointer.startswith(pointer) for e in errors), errors


@pytest.mark.parametrize("event_type", TYPES)
def test_unknown_data_field_is_rejected(event_type: str, expect_error: ExpectError) -> None:
    expect_error(
        event_type,
        lambda data: data.__setitem__("surprise", 1),
        "/data/surprise",
        "Extra inputs are not permitted",
    )


@pytest.mark.parametrize(("event_type", "field"), DATETIME_FIELDS, ids=map(_id, DATETIME_FIELDS))
def test_naive_datetime_is_rejected_naming_the_field(
    event_type: str, field: str, expect_error: ExpectError
) -> None:
    naive = "2026-03-10T08:00:00"
    expect_error(
        event_type, lambda data: data.__setitem__(field, naive), f"/data/{field}", "timezone"
    )


@pytest.mark.parametrize(("event_type", "field"), DATETIME_FIELDS, ids=map(_id, DATETIME_FIELDS))
def test_datetimes_are_normalised_to_utc(
    event_type: str, field: str, sample_obj: SampleObj
) -> None:
    obj = sample_obj(event_type)
    original = datetime.fromisoformat(obj["data"][field])
    obj["data"][field] = original.astimezone(timezone(timedelta(hours=2))).isoformat()
    value = getattr(serde.parse_event(obj).data, field)
    assert value == original
    assert value.tzinfo is UTC


@pytest.mark.parametrize("event_type", TYPES)
def test_payload_has_documentation(event_type: str) -> None:
    # Each payload says who emits it and what it means (the catalogue shows this).
    doc = PAYLOADS[event_type].__doc__ or ""
    assert "TODO" not in doc
    assert "emitted by" in doc.lower()


@pytest.mark.parametrize("event_type", TYPES)
@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_json_schema_generates(
    event_type: str, mode: typing.Literal["validation", "serialization"]
) -> None:
    schema = ENVELOPES[event_type].model_json_schema(mode=mode)
    assert schema["properties"]["type"]["const"] == event_type
