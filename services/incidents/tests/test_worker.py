"""The TriageWorker without Faust (plain dicts as tables, an in-memory sink): batches,
contracts from the contracts topic, terminated contracts, the wall-clock tick, the
trace of an alert carried to its incident and ticket, one log line per event."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from factory import contract, firing, resolved, t

from incidents.config import TriageConfig
from incidents.sink import MemorySink, RawRecord
from incidents.worker import TriageWorker
from msp_events import Envelope, decode, encode, make_event
from msp_events.tracing import TraceContext, trace_of, with_trace
from msp_events.types.contracts import ContractSnapshot, ContractTerminated


def worker() -> tuple[TriageWorker, MemorySink]:
    sink = MemorySink()
    tables: tuple[dict[bytes, Any], dict[bytes, Any]] = ({}, {})
    w = TriageWorker(
        states=tables[0],
        contracts=tables[1],
        sink=sink,
        cfg=TriageConfig(),
        namespace="",
        group="g",
    )
    return w, sink


def records(events: list[Envelope]) -> list[RawRecord]:
    out = []
    for i, e in enumerate(events):
        r = encode(e)
        out.append(RawRecord("msp.monitoring.v1", 0, i, 0.0, r.key, r.value))
    return out


async def test_wall_clock_tick_resolves_without_new_events() -> None:
    w, sink = worker()
    await w.process(
        records([contract("w-co"), firing("w-co", "a", t(0)), resolved("w-co", "a", t(10))])
    )
    assert [decode(o.value).type for o in sink.outbox][-1] == "msp.ticket.created.v1"
    await w.tick(t(10) + timedelta(seconds=TriageConfig().holddown_s))
    types = [decode(o.value).type for o in sink.outbox]
    assert types[-2:] == ["msp.incident.resolved.v1", "msp.ticket.resolved.v1"]
    assert w.processed == 3


async def test_state_survives_a_round_trip_through_the_table() -> None:
    w, sink = worker()
    await w.process(records([contract("w-co"), firing("w-co", "a", t(0), device="d1")]))
    raw = w.states[b"w-co"]
    w._states.clear()  # as after a restart: only the table (changelog) is left
    assert w.state("w-co").model_dump(mode="json", exclude_defaults=True) == raw
    await w.process(records([firing("w-co", "b", t(5), device="d1")]))
    assert sink.log[-1].outcome == "correlated"


async def test_terminated_contract_stops_monitoring() -> None:
    w, sink = worker()
    snap = contract("w-co").data
    assert isinstance(snap, ContractSnapshot)
    ended = ContractTerminated(
        contract_id=snap.contract_id, versions=snap.versions, effective_at=t(0), reason="moved on"
    )
    end = make_event(ended, customer_id="w-co", source="/t", time=t(0), id="end-1")
    await w.process(records([end, firing("w-co", "a", t(60))]))
    assert sink.log[-1].outcome == "not_monitored"
    assert "contract ended" in sink.log[-1].reason
    assert sink.outbox == []


async def test_outputs_continue_the_alert_trace_and_each_event_gets_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w, sink = worker()
    trace = TraceContext.new()
    alert = with_trace(firing("w-co", "a", t(0)), trace)
    with caplog.at_level(logging.INFO, logger="msp.events"):
        await w.process(records([contract("w-co"), alert]))
    outputs = [decode(o.value) for o in sink.outbox]
    assert {e.type for e in outputs} >= {"msp.incident.opened.v1", "msp.ticket.created.v1"}
    for event in outputs:
        ctx = trace_of(event)
        assert ctx is not None and ctx.trace_id == trace.trace_id, event.type
        assert ctx.span_id != trace.span_id
    lines = {r.event_id: r for r in caplog.records if r.name == "msp.events"}  # type: ignore[attr-defined]
    assert lines[alert.id].outcome == "opened"  # type: ignore[attr-defined]
    assert lines[alert.id].trace_id == trace.trace_id  # type: ignore[attr-defined]
    assert lines[alert.id].group == "g"  # type: ignore[attr-defined]
    assert len(lines) == 2, "the contract has its line too"
