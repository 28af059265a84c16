"""W3C trace context on events: parsing by the W3C rules, derived events keep the
trace id with a span of their own (the same on a replay), and the envelope refuses a
malformed `traceparent` naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msp_events import EventValidationError, decode, encode, make_event, parse_event
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj
from msp_events.tracing import TraceContext, continue_trace, trace_id_of, trace_of

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
hex_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).filter(
    lambda s: s != "0" * 32
)


def test_parse_reads_the_four_fields_and_the_state() -> None:
    ctx = TraceContext.parse(PARENT, " rojo=00f067aa0ba902b7 ")
    assert ctx == TraceContext(TRACE_ID, "00f067aa0ba902b7", "01", "rojo=00f067aa0ba902b7")
    assert ctx.traceparent == PARENT


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has 4 fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
    ],
)
def test_an_invalid_traceparent_is_ignored(bad: str | None) -> None:
    assert TraceContext.parse(bad) is None


def test_a_later_version_is_read_as_version_00() -> None:
    ctx = TraceContext.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
    assert ctx is not None and ctx.traceparent == PARENT


@given(trace_id=hex_ids, event_id=st.text(min_size=1, max_size=40))
def test_a_child_keeps_the_trace_with_its_own_deterministic_span(
    trace_id: str, event_id: str
) -> None:
    parent = TraceContext(trace_id, "00f067aa0ba902b7", "01", "k=v")
    child = parent.child(event_id)
    assert (child.trace_id, child.flags, child.state) == (trace_id, "01", "k=v")
    assert child.span_id != parent.span_id and child.span_id != "0" * 16
    assert child == parent.child(event_id), "a replay derives the same span"
    assert TraceContext.parse(child.traceparent, child.state) == child


def test_make_event_with_a_cause_continues_its_trace() -> None:
    alert, ticket = sample_events()[:2]
    cause = continue_trace(alert, TraceContext.parse(PARENT, "k=v"))
    assert trace_id_of(cause) == TRACE_ID
    derived = make_event(
        ticket.data,
        customer_id=ticket.customer_id,
        source="/incidents",
        time=ticket.time,
        id="derived-1",
        cause=cause,
    )
    ctx = trace_of(derived)
    assert ctx is not None and ctx.trace_id == TRACE_ID and ctx.state == "k=v"
    assert ctx.span_id not in (trace_of(cause).span_id, "00f067aa0ba902b7")  # type: ignore[union-attr]
    assert decode(encode(derived).value) == derived, "the attributes survive the wire"
    wire = to_json_obj(derived)
    assert (wire["traceparent"], wire["tracestate"]) == (ctx.traceparent, "k=v")


def test_an_event_with_its_own_trace_keeps_it() -> None:
    event = continue_trace(sample_events()[0], TraceContext.parse(PARENT))
    other = TraceContext.new()
    assert continue_trace(event, other) is event
    assert continue_trace(sample_events()[0], None) == sample_events()[0]


def test_the_envelope_refuses_a_malformed_traceparent_naming_it() -> None:
    obj = to_json_obj(sample_events()[0])
    for bad in ("not-a-traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        with pytest.raises(EventValidationError) as caught:
            parse_event({**obj, "traceparent": bad})
        assert [e.pointer for e in caught.value.errors] == ["/traceparent"]
    assert parse_event({**obj, "traceparent": PARENT, "tracestate": "a=b"}).tracestate == "a=b"
