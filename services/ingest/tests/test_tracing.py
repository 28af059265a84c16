"""W3C trace context through ingest on the real broker: the request's `traceparent`
lands on every canonical event it publishes (a span of ingest's own), a request
without one starts a trace, an event posted with its own context keeps it, raw-topic
events start a trace, and the accepted request's log line names the trace and ids."""

from __future__ import annotations

import logging

import pytest
from ingest_testkit import Ingest

from msp_devstack.testkit import produce, wait_for_async
from msp_events import Envelope, decode
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj
from msp_events.topics import MONITORING, RAW_MONITORING
from msp_events.tracing import TraceContext, trace_of, with_trace

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


def alerts() -> list[Envelope]:
    return [e for e in sample_events() if e.type.startswith("msp.monitoring.alert_")]


async def canonical(ingest: Ingest, n: int) -> dict[str, Envelope]:
    async def read() -> dict[str, Envelope] | None:
        events = {e.id: e for e in (decode(r.value) for r in await ingest.read(MONITORING.name))}
        return events if len(events) >= n else None

    return await wait_for_async(read, timeout=60, message=f"{n} canonical events")


async def test_the_request_traceparent_is_on_every_canonical_event(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    key = await ingest.key("cust-acme")
    batch = [to_json_obj(e) for e in alerts()]
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/cloudevents-batch+json",
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=abc",
    }
    with caplog.at_level(logging.INFO, logger="msp.events"):
        r = await ingest.client.post("/v1/events", json=batch, headers=headers)
    assert r.status_code == 202, r.text
    events = await canonical(ingest, len(batch))
    spans = set()
    for event in events.values():
        ctx = trace_of(event)
        assert ctx is not None and (ctx.trace_id, ctx.state) == (TRACE_ID, "vendor=abc")
        spans.add(ctx.span_id)
    assert len(spans) == 1 and CALLER_SPAN not in spans, "one span: ingest's request"
    (line,) = [r for r in caplog.records if r.name == "msp.events"]
    assert (line.trace_id, line.outcome, line.group) == (TRACE_ID, "accepted", "ingest.events")  # type: ignore[attr-defined]
    assert sorted(line.event_ids) == sorted(events)  # type: ignore[attr-defined]


async def test_without_a_traceparent_a_request_starts_a_trace_and_own_contexts_stay(
    ingest: Ingest,
) -> None:
    key = await ingest.key("cust-acme")
    first, second = alerts()[:2]
    own = TraceContext.new()
    batch = [to_json_obj(first), to_json_obj(with_trace(second, own))]
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/cloudevents-batch+json",
        "traceparent": "00-not-a-valid-header-01",  # W3C: ignored, a new trace starts
    }
    r = await ingest.client.post("/v1/events", json=batch, headers=headers)
    assert r.status_code == 202, r.text
    events = await canonical(ingest, 2)
    started = trace_of(events[first.id])
    assert started is not None and started.trace_id not in (own.trace_id, TRACE_ID)
    assert trace_of(events[second.id]) == own, "the event's own context wins"


async def test_a_raw_event_without_context_starts_a_trace(ingest: Ingest) -> None:
    firing = alerts()[0]
    await produce(ingest.bootstrap, ingest.topic(RAW_MONITORING.name), [firing])
    event = (await canonical(ingest, 1))[firing.id]
    assert trace_of(event) is not None
    assert event.model_copy(update={"traceparent": None}) == firing, "otherwise unchanged"


async def test_a_malformed_traceparent_attribute_is_refused_naming_it(ingest: Ingest) -> None:
    key = await ingest.key("cust-acme")
    body = {**to_json_obj(alerts()[0]), "traceparent": "00-xyz"}
    r = await ingest.client.post(
        "/v1/events", json=body, headers={"authorization": f"Bearer {key}"}
    )
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/traceparent"]
