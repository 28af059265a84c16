"""The transactional consumer on the real broker and Postgres writes one JSON line per
handled record once its batch committed (applied, duplicate, dead-lettered: id, type,
customer, group, trace id), and what a handler emits continues the trace of the event
that caused it, dead letters of a poison event included."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType

import asyncpg
import pytest

from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import Envelope, decode
from msp_events.topics import TICKETS
from msp_events.tracing import TraceContext, trace_id_of, trace_of, with_trace
from msp_plumbing.eventlog import EVENTS
from msp_plumbing.jsonlog import JsonFormatter
from msp_plumbing.runtime import ServiceRuntime
from msp_plumbing.settings import ServiceSettings

pytestmark = pytest.mark.integration

TRACE = TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v")


class Lines(logging.Handler):
    """The `msp.events` lines as the service writes them (its JSON formatter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter("plumbingtest"))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    level = EVENTS.level
    EVENTS.addHandler(handler)
    EVENTS.setLevel(logging.INFO)
    yield handler
    EVENTS.removeHandler(handler)
    EVENTS.setLevel(level)


async def test_one_line_per_record_and_outputs_in_the_cause_trace(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    worker_module: ModuleType,
    lines: Lines,
) -> None:
    assert TRACE is not None
    plain, traced, poison = make_tickets(3)
    traced = with_trace(traced, TRACE)
    poison = with_trace(poison, TraceContext.new())
    garbage = (b"cust-1", b"\x00not json")
    await produce(kafka_bootstrap, topics["in"], [plain, traced, traced, poison], raw=[garbage])
    settings = ServiceSettings(
        service_name="plumbingtest",
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        db_schema=schema,
        topic_namespace=namespace,
    )
    runtime = ServiceRuntime(settings)
    poison_ticket = poison.data.ticket_id  # type: ignore[attr-defined]
    runtime.add_consumer(
        "main", [TICKETS], worker_module.make_handler(topics["out"], poison_ticket)
    )
    group = settings.group_id("main")

    def ours() -> list[dict[str, object]]:
        # only this test's consumer group: a runtime another test left running in this
        # process writes to the same logger
        return [line for line in lines.lines if line.get("group") == group]

    await runtime.start()
    try:
        await wait_for_async(lambda: len(ours()) >= 5, timeout=180, message="5 event lines written")
        outputs = await wait_for_async(
            lambda: _records(kafka_bootstrap, topics["out"], 2), timeout=90, message="2 outputs"
        )
        letters = await wait_for_async(
            lambda: _records(kafka_bootstrap, topics["dlq"], 2), timeout=90, message="2 letters"
        )
    finally:
        await runtime.stop()

    by = {(line["event_id"], line["outcome"]): line for line in ours()}
    applied = by[(traced.id, "applied")]
    assert applied == {
        **applied,
        "msg": "event applied",
        "logger": "msp.events",
        "level": "INFO",
        "service": "plumbingtest",
        "event_type": "msp.ticket.created.v1",
        "customer_id": traced.customer_id,
        "group": group,
        "trace_id": TRACE.trace_id,
    }
    assert by[(traced.id, "duplicate")]["trace_id"] == TRACE.trace_id
    assert by[(plain.id, "applied")]["trace_id"] is None
    dead = by[(poison.id, "dead_lettered")]
    assert dead["trace_id"] == trace_id_of(poison) and "cannot triage" in str(dead["reason"])
    (undecodable,) = [line for line in ours() if line["event_id"] is None]
    assert undecodable["outcome"] == "dead_lettered" and undecodable["topic"] == topics["in"]

    derived = {e.subject: e for e in outputs}
    out = trace_of(derived[traced.data.ticket_id])  # type: ignore[attr-defined]
    assert out is not None and (out.trace_id, out.state) == (TRACE.trace_id, "k=v")
    assert out.span_id != TRACE.span_id, "the derived event is a span of its own"
    assert derived[plain.data.ticket_id].traceparent is None  # type: ignore[attr-defined]
    assert trace_id_of(poison) in {trace_id_of(letter) for letter in letters}


async def _records(bootstrap: str, topic: str, n: int) -> list[Envelope] | None:
    found = [decode(r.value) for r in await read_topic(bootstrap, topic)]
    return found if len(found) >= n else None
