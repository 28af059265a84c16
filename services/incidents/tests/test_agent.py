"""The triage agent under Faust's test_context(): records go through the agent's
stream (batched with take_events) to the worker, the tables and the sink, with no
broker. The sink is an in-memory one: here we test the agent, not Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path

from factory import contract, firing, t

from incidents.faust_app import FaustParts, build_faust_app
from incidents.settings import IncidentsSettings
from incidents.sink import MemorySink
from msp_devstack.testkit import wait_for_async
from msp_events import decode, encode


def parts(tmp_path: Path, sink: MemorySink) -> FaustParts:
    settings = IncidentsSettings(
        topic_namespace="agent_test_", wall_clock_tick_s=0, faust_datadir=str(tmp_path)
    )
    built = build_faust_app(settings, sink, wait_for_changelog=False)
    built.app.loop = asyncio.get_running_loop()
    built.app.finalize()
    built.app.flow_control.resume()
    return built


async def test_agent_triages_records_into_outbox_and_tables(tmp_path: Path) -> None:
    sink = MemorySink()
    p = parts(tmp_path, sink)
    records = [encode(contract("agent-co"))] + [
        encode(firing("agent-co", f"fp-{i}", t(i), device=f"d{i}")) for i in range(5)
    ]
    async with p.agent.test_context() as agent:
        for r in records:
            await agent.put(value=r.value, key=r.key, wait=False)

        def outputs() -> list[str] | None:
            types = [decode(o.value).type for o in sink.outbox]
            return types if len(sink.log) == 5 else None

        types = await wait_for_async(outputs, timeout=30, message="triage of 5 alerts")
    assert types.count("msp.incident.opened.v1") == 1
    assert types.count("msp.ticket.created.v1") == 1
    assert [r.outcome for r in sink.log] == ["opened"] + ["correlated"] * 4
    state = p.worker.state("agent-co")
    assert len(state.incidents) == 1 and len(state.alerts) == 5
    assert b"agent-co" in p.worker.states and b"agent-co" in p.worker.contracts


async def test_agent_dead_letters_what_is_not_an_event(tmp_path: Path) -> None:
    sink = MemorySink()
    p = parts(tmp_path, sink)
    async with p.agent.test_context() as agent:
        await agent.put(value=b"not json", key=b"agent-co", wait=False)

        def lettered() -> bool:
            return len(sink.outbox) == 1

        await wait_for_async(lettered, timeout=30, message="a dead letter")
    letter = decode(sink.outbox[0].value)
    assert letter.type == "msp.deadletter.recorded.v1"
    assert "invalid event" in letter.data.reason  # type: ignore[attr-defined]
