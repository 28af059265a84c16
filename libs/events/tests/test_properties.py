"""Property tests: whatever arrives, parsing either yields an event or raises
`EventValidationError` (never anything else, so a consumer can always dead-letter),
and valid instants survive a round trip exactly."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msp_events import serde
from msp_events.bounds import EARLIEST, LATEST, MAX_TIME_ENTRY
from msp_events.registry import PAYLOADS
from msp_events.samples import sample_events
from msp_events.serde import EventValidationError, FieldError
from msp_events.types.billing import InvoiceLine, line_amount

SAMPLES = {event.type: serde.to_json_obj(event) for event in sample_events()}
TYPES = sorted(PAYLOADS)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "P1", "2026-03-10T08:00:00Z", "24:00", "GBP", "1e400", "-0"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def rejection(parse: Callable[[Any], object], value: Any) -> list[FieldError] | None:
    """The errors `parse` reports for `value`, or None if it accepted it. Anything but
    an EventValidationError propagates and fails the test."""
    try:
        parse(value)
    except EventValidationError as exc:
        return exc.errors
    return None


def parses_or_rejects(obj: Any) -> None:
    from_object = rejection(serde.parse_event, obj)
    from_bytes = rejection(serde.decode, json.dumps(obj).encode())
    assert from_object is None or from_object  # a rejection always says why
    assert (from_object is None) == (from_bytes is None)  # both entry points agree


@PROPERTY_SETTINGS
@given(obj=st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_junk_objects_only_ever_raise_validation_errors(obj: dict[str, Any]) -> None:
    parses_or_rejects(obj)


@PROPERTY_SETTINGS
@given(event_type=st.sampled_from(TYPES), data=json_values)
def test_junk_data_under_a_real_type_only_raises_validation_errors(
    event_type: str, data: Any
) -> None:
    obj = copy.deepcopy(SAMPLES[event_type])
    obj["data"] = data
    parses_or_rejects(obj)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node (not the root) of a JSON value."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@PROPERTY_SETTINGS
@given(st.data())
def test_mutating_any_node_of_a_valid_event_only_raises_validation_errors(
    data: st.DataObject,
) -> None:
    event_type = data.draw(st.sampled_from(TYPES))
    obj = copy.deepcopy(SAMPLES[event_type])
    path = data.draw(st.sampled_from(_paths(obj)))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(json_values)
    parses_or_rejects(obj)


@PROPERTY_SETTINGS
@given(value=st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_validation_errors(value: bytes) -> None:
    errors = rejection(lambda v: serde.decode_record(b"cust-acme", v), value)
    assert errors is None or errors


# Offsets are whole minutes, as RFC 3339 writes them (historic local mean times such
# as +03:06:54 have no RFC 3339 spelling).
_zones = st.timezones() | st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)


def _whole_minutes(d: datetime) -> bool:
    offset = d.utcoffset()
    return offset is not None and offset % timedelta(minutes=1) == timedelta(0)


# Any local time whose UTC instant is inside the contract's window (bounds.py).
aware_datetimes = (
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2100, 1, 2), timezones=_zones)
    .filter(_whole_minutes)
    .filter(lambda d: EARLIEST <= d.astimezone(UTC) < LATEST)
)
# Any instant outside it, down to year 1 and up to year 9999 (as far as UTC reaches).
outside_datetimes = (
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9999, 12, 30), timezones=_zones)
    .filter(_whole_minutes)
    .filter(lambda d: not EARLIEST <= d.astimezone(UTC) < LATEST)
)


@PROPERTY_SETTINGS
@given(event_type=st.sampled_from(TYPES), instant=outside_datetimes)
def test_any_instant_outside_the_window_is_rejected_at_time(
    event_type: str, instant: datetime
) -> None:
    obj = copy.deepcopy(SAMPLES[event_type])
    obj["time"] = instant.isoformat()
    errors = rejection(serde.parse_event, obj)
    assert errors is not None
    assert [(e.pointer, e.message.split(":")[0]) for e in errors] == [
        ("/time", "Value error, instant out of range")
    ]


@PROPERTY_SETTINGS
@given(
    instant=st.one_of(aware_datetimes, outside_datetimes),
    where=st.sampled_from(
        [
            ("msp.ticket.created.v1", "opened_at"),
            ("msp.monitoring.alert_firing.v1", "starts_at"),
            ("msp.change_order.rejected.v1", "rejected_at"),
            ("msp.ticket.resolved.v1", "resolved_at"),
        ]
    ),
)
def test_a_payload_instant_is_accepted_exactly_inside_the_window(
    instant: datetime, where: tuple[str, str]
) -> None:
    event_type, field = where
    obj = copy.deepcopy(SAMPLES[event_type])
    obj["data"][field] = instant.isoformat()
    errors = rejection(serde.parse_event, obj)
    if EARLIEST <= instant.astimezone(UTC) < LATEST:
        assert errors is None
    else:
        assert errors is not None
        assert [e.pointer for e in errors] == [f"/data/{field}"]


@PROPERTY_SETTINGS
@given(span=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650)))
def test_a_time_entry_spans_at_most_a_day(span: timedelta) -> None:
    obj = copy.deepcopy(SAMPLES["msp.ticket.time_logged.v1"])
    started = datetime.fromisoformat(obj["data"]["started_at"])
    obj["data"]["ended_at"] = (started + span).isoformat()
    errors = rejection(serde.parse_event, obj)
    if span <= MAX_TIME_ENTRY:
        assert errors is None
    else:
        assert errors is not None
        assert [e.pointer for e in errors] == ["/data/ended_at"]
        assert "at most 1 day" in errors[0].message


@PROPERTY_SETTINGS
@given(event_type=st.sampled_from(TYPES), instant=aware_datetimes)
def test_any_aware_instant_survives_a_round_trip_as_utc(event_type: str, instant: datetime) -> None:
    obj = copy.deepcopy(SAMPLES[event_type])
    obj["time"] = instant.isoformat()
    event = serde.parse_event(obj)
    # Compare in UTC: Python never equates a time in a DST fold with another zone's.
    assert event.time == instant.astimezone(UTC)
    assert event.time.tzinfo is UTC
    again = (
        serde.decode_record(*serde.encode(event)[:2])
        if False
        else serde.decode(serde.encode(event).value)
    )
    assert again == event


@PROPERTY_SETTINGS
@given(
    quantity=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4),
    unit=st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=4),
)
def test_line_amount_helper_agrees_with_the_invoice_line_rule(
    quantity: Decimal, unit: Decimal
) -> None:
    line = InvoiceLine(
        line_id="l1",
        description="d",
        quantity=quantity,
        unit_amount=unit,
        line_amount=line_amount(quantity, unit, "GBP"),
        currency="GBP",
        classification="flat_fee",
    )
    assert abs(line.line_amount - quantity * unit) <= Decimal("0.005")
