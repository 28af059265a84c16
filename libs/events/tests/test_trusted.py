"""The trusted construction path (`make_event(..., trusted=True)`, `with_trace`)
builds exactly what validation builds: the same model, the same fields set, the same
bytes, for every event type of the catalogue; and a time validation would change or
refuse is never trusted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from msp_events import Envelope, EventValidationError, make_event
from msp_events.bounds import EARLIEST, LATEST
from msp_events.samples import sample_events
from msp_events.serde import encode_value
from msp_events.tracing import TraceContext, with_trace

SAMPLES = sample_events()
CAUSE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01", "k=v")

causes = st.sampled_from([None, CAUSE, *[e for e in SAMPLES if e.traceparent]])
instants = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=(LATEST - timedelta(microseconds=1)).replace(tzinfo=None),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


def built(sample: Envelope, *, trusted: bool, **changes: object) -> Envelope:
    parts: dict[str, object] = {
        "customer_id": sample.customer_id,
        "source": sample.source,
        "time": sample.time,
        "subject": sample.subject,
        "id": sample.id,
        **changes,
    }
    return make_event(sample.data, trusted=trusted, **parts)  # type: ignore[arg-type]


def assert_same(trusted: Envelope, validated: Envelope) -> None:
    assert type(trusted) is type(validated)
    assert trusted == validated
    assert trusted.__dict__ == validated.__dict__
    assert trusted.model_fields_set == validated.model_fields_set
    assert encode_value(trusted) == encode_value(validated)
    assert trusted.model_dump_json() == validated.model_dump_json()


def outcome(sample: Envelope, *, trusted: bool, **changes: object) -> Envelope | list[str]:
    """The event built, or the fields it was refused for."""
    try:
        return built(sample, trusted=trusted, **changes)
    except EventValidationError as exc:
        return [str(e) for e in exc.errors]


@given(sample=st.sampled_from(SAMPLES), cause=causes, time=instants)
@example(  # found by a CI run: 1999-12-31T18:30Z, before the window
    sample=SAMPLES[0], cause=None, time=datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=5.5)))
)
def test_a_trusted_event_is_the_validated_event(
    sample: Envelope, cause: Envelope | TraceContext | None, time: datetime
) -> None:
    # an instant near the window's ends in another zone may fall outside it in UTC:
    # then both paths refuse it, naming the same field
    trusted = outcome(sample, trusted=True, cause=cause, time=time)
    validated = outcome(sample, trusted=False, cause=cause, time=time)
    if isinstance(trusted, Envelope) and isinstance(validated, Envelope):
        assert_same(trusted, validated)
    else:
        assert trusted == validated


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda e: e.type)
def test_every_sample_rebuilt_trusted_is_byte_identical(sample: Envelope) -> None:
    assert_same(built(sample, trusted=True), built(sample, trusted=False))


@pytest.mark.parametrize("time", [EARLIEST - timedelta(microseconds=1), LATEST])
def test_a_time_outside_the_window_is_refused_naming_the_field_even_if_trusted(
    time: datetime,
) -> None:
    for trusted in (True, False):
        with pytest.raises(EventValidationError) as raised:
            built(SAMPLES[0], trusted=trusted, time=time)
        assert [e.pointer for e in raised.value.errors] == ["/time"]


@given(sample=st.sampled_from(SAMPLES))
def test_with_trace_is_model_copy(sample: Envelope) -> None:
    trace = CAUSE.child(sample.id)
    copied = sample.model_copy(update={"traceparent": trace.traceparent, "tracestate": trace.state})
    assert_same(with_trace(sample, trace), copied)
