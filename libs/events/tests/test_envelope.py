"""The CloudEvents envelope and Kafka record (de)serialisation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from msp_events import serde
from msp_events.envelope import Envelope, dataschema_for
from msp_events.samples import sample_events
from msp_events.serde import EventValidationError, FieldError

TYPE = "msp.ticket.created.v1"
SampleObj = Callable[[str], dict[str, Any]]


def errors_of(obj: Any) -> list[FieldError]:
    with pytest.raises(EventValidationError) as info:
        serde.parse_event(obj)
    return info.value.errors


def pointers(errors: list[FieldError]) -> list[str]:
    return [e.pointer for e in errors]


def test_unknown_type_is_named(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["type"] = "msp.ticket.exploded.v1"
    errors = errors_of(obj)
    assert errors == [FieldError("/type", "unknown event type 'msp.ticket.exploded.v1'")]


def test_missing_type_is_named(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    del obj["type"]
    assert errors_of(obj) == [FieldError("/type", "Field required")]


def test_missing_customer_is_named_by_its_wire_name(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    del obj["customerid"]
    assert pointers(errors_of(obj)) == ["/customerid"]


def test_both_customer_spellings_are_accepted(
    sample_obj: SampleObj, samples: dict[str, Envelope]
) -> None:
    obj = sample_obj(TYPE)
    assert "customerid" in obj  # the wire spelling (CloudEvents: [a-z0-9] only)
    obj["customer_id"] = obj.pop("customerid")
    assert serde.parse_event(obj) == samples[TYPE]


def test_invalid_customer_is_named(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["customerid"] = "acme corp"
    assert pointers(errors_of(obj)) == ["/customerid"]


def test_dataschema_is_derived_from_type(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    assert obj["dataschema"] == dataschema_for(TYPE)
    del obj["dataschema"]
    assert serde.parse_event(obj).dataschema == dataschema_for(TYPE)


def test_dataschema_mismatch_is_rejected(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["dataschema"] = dataschema_for("msp.ticket.closed.v1")
    errors = errors_of(obj)
    assert pointers(errors) == ["/dataschema"]
    assert dataschema_for(TYPE) in errors[0].message


def test_time_is_normalised_to_utc(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["time"] = "2026-03-10T04:17:00+02:00"
    event = serde.parse_event(obj)
    assert event.time == datetime(2026, 3, 10, 2, 17, tzinfo=UTC)
    assert event.time.tzinfo is UTC
    assert serde.to_json_obj(event)["time"] == "2026-03-10T02:17:00Z"


def test_naive_time_is_rejected(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["time"] = "2026-03-10T04:17:00"
    assert pointers(errors_of(obj)) == ["/time"]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("specversion", "0.3"), ("datacontenttype", "text/xml"), ("id", ""), ("source", "")],
)
def test_envelope_attribute_rules(attribute: str, value: str, sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj[attribute] = value
    assert pointers(errors_of(obj)) == [f"/{attribute}"]


def test_unknown_envelope_attribute_is_rejected(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["customer"] = "cust-acme"  # a typo of customerid must not be silently dropped
    assert pointers(errors_of(obj)) == ["/customer"]


def test_data_is_validated_as_the_payload_of_type(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    obj["data"] = sample_obj("msp.ticket.closed.v1")["data"]  # another type's payload
    assert "/data/title" in pointers(errors_of(obj))


def test_several_errors_are_all_reported(sample_obj: SampleObj) -> None:
    obj = sample_obj(TYPE)
    del obj["customerid"]
    obj["data"]["priority"] = "P9"
    assert sorted(pointers(errors_of(obj))) == ["/customerid", "/data/priority"]
    with pytest.raises(EventValidationError, match=r"/customerid: Field required"):
        serde.parse_event(obj)


@pytest.mark.parametrize("value", [b"", b"{not json", b"[1]", b"\xff\xfe", b"null"])
def test_undecodable_bytes_are_validation_errors(value: bytes) -> None:
    with pytest.raises(EventValidationError) as info:
        serde.decode(value)
    assert pointers(info.value.errors) == [""]


def test_encode_keys_by_customer(samples: dict[str, Envelope]) -> None:
    record = serde.encode(samples[TYPE])
    assert record.key == b"cust-acme"
    assert ("content-type", b"application/cloudevents+json; charset=utf-8") in record.headers
    assert json.loads(record.value)["customerid"] == "cust-acme"


def test_decode_record_rejects_a_mismatching_key(samples: dict[str, Envelope]) -> None:
    record = serde.encode(samples[TYPE])
    with pytest.raises(EventValidationError) as info:
        serde.decode_record(b"cust-other", record.value)
    assert info.value.errors == [FieldError("/customerid", "does not match the record key")]


def test_decode_record_without_key(samples: dict[str, Envelope]) -> None:
    record = serde.encode(samples[TYPE])
    assert serde.decode_record(None, record.value) == samples[TYPE]


def test_decode_record_rejects_a_tombstone() -> None:
    with pytest.raises(EventValidationError, match="tombstone"):
        serde.decode_record(b"cust-acme", None)


def test_make_event_builds_the_typed_envelope(samples: dict[str, Envelope]) -> None:
    data = samples[TYPE].data
    event = serde.make_event(
        data,
        customer_id="cust-acme",
        source="/test",
        time=datetime(2026, 3, 10, tzinfo=UTC),
        id=serde.derive_event_id("x", "y"),
    )
    assert event.type == TYPE
    assert event.data == data
    assert event.id == serde.derive_event_id("x", "y")
    assert event.id != serde.derive_event_id("x", "z")


def test_make_event_rejects_a_naive_time(samples: dict[str, Envelope]) -> None:
    with pytest.raises(EventValidationError) as info:
        serde.make_event(
            samples[TYPE].data, customer_id="cust-acme", source="/t", time=datetime(2026, 3, 10)
        )
    assert pointers(info.value.errors) == ["/time"]


def test_samples_are_deterministic_and_ids_unique() -> None:
    first, second = sample_events(), sample_events()
    assert first == second
    assert len({e.id for e in first}) == len(first)
    assert {e.customer_id for e in first} == {"cust-acme"}
