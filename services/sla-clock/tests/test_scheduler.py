"""The scheduler against real Postgres: due deadlines are claimed with FOR UPDATE SKIP
LOCKED (two instances never fire the same one and never wait on each other), the
event-time clock follows the stream, persisted, and what fires continues the trace of
its ticket's latest event."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from msp_events import decode
from msp_events.tracing import TraceContext, trace_id_of, with_trace
from msp_events.types.sla import SlaBreached, SlaOutcomeCorrected
from msp_events.types.tickets import TicketCreated
from sla_clock.contracts import ContractCache, store_contract
from sla_clock.scheduler import fire_due
from sla_clock.service import recompute, store_transitions
from sla_clock.timesource import EPOCH, EventTimeClock, WallClock, advance_event_time
from sla_clock.traces import store_ticket_traces
from sla_clock.transitions import Transition

from .conftest import london, schema_of, snapshot, ticket_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(database_url: str, namespace: str) -> tuple[str, str]:
    from msp_plumbing.migrations import migrate

    schema = schema_of(namespace)
    await migrate(database_url, schema=schema, package="sla_clock")
    return database_url, schema


async def connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings={"search_path": schema})


async def test_two_schedulers_split_due_deadlines_without_overlap(db: tuple[str, str]) -> None:
    url, schema = db
    a, b = await connect(url, schema), await connect(url, schema)
    try:
        opened = london(2026, 3, 10, 9)
        await store_contract(a, customer_id="c", contract=snapshot())
        entries = [
            ("c", f"T{i}", Transition("created", opened, f"e{i}", priority="P1")) for i in range(10)
        ]
        await store_transitions(a, entries=entries)
        await recompute(
            a, keys=[("c", f"T{i}") for i in range(10)], now=opened, contracts=ContractCache()
        )
        # P1 (24x7): warnings at 75/90 % and breaches of 2 clocks each = 6 per ticket
        assert await a.fetchval("SELECT count(*) FROM deadlines") == 60
        late = opened + timedelta(days=1)
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        first = await fire_due(a, now=late, limit=40, schema=schema, namespace="")
        # b neither waits for a's locked rows nor fires them: it takes the other 20
        second = await fire_due(b, now=late, limit=1000, schema=schema, namespace="")
        await tx_a.commit()
        await tx_b.commit()
        ids_a = {e.id for e, *_ in first}
        ids_b = {e.id for e, *_ in second}
        assert len(ids_a) == 40 and len(ids_b) == 20 and not ids_a & ids_b
        assert await a.fetchval("SELECT count(*) FROM deadlines") == 0
        assert await a.fetchval("SELECT count(*) FROM outbox") == 60
        breached = await a.fetchval("SELECT count(*) FROM clocks WHERE breached_at IS NOT NULL")
        assert breached == 20
        breaches = [e for e, *_ in first + second if isinstance(e.data, SlaBreached)]
        assert len(breaches) == 20
        # a second round finds nothing: deadlines fire once
        async with a.transaction():
            assert await fire_due(a, now=late, limit=1000, schema=schema, namespace="") == []
    finally:
        await a.close()
        await b.close()


async def test_event_time_clock_is_persisted_and_never_goes_back(db: tuple[str, str]) -> None:
    url, schema = db
    conn = await connect(url, schema)
    try:
        clock = EventTimeClock()
        assert await clock.now(conn) == EPOCH
        await advance_event_time(conn, london(2026, 3, 10, 9))
        await advance_event_time(conn, london(2026, 3, 9, 9))  # an older event
        assert await clock.now(conn) == london(2026, 3, 10, 9)
        wall = WallClock(lambda: london(2030, 1, 1))
        assert await wall.now(conn) == london(2030, 1, 1)
    finally:
        await conn.close()


async def test_a_breach_withdrawn_by_a_late_pause_is_restated_when_due(
    db: tuple[str, str],
) -> None:
    """Wall time Tuesday 17:30: the P2 ticket opened at 09:00 breached resolution at
    17:00. The pause it had from 10:00 to Wednesday 10:00 arrives late: the consumer's
    replay withdraws the breach (a correction) and schedules it for Wednesday 17:00,
    when the scheduler restates it, as a correction of the withdrawal (the breach's
    own id is spent). Clock row, `published` and outbox agree at each step."""
    url, schema = db
    conn = await connect(url, schema)
    try:
        opened, tuesday_1730 = london(2026, 11, 3, 9), london(2026, 11, 3, 17, 30)
        key = ("c", "T")
        await store_contract(conn, customer_id="c", contract=snapshot())
        created = Transition("created", opened, "e-created", priority="P2")
        reply = Transition("comment", london(2026, 11, 3, 9, 20), "e-reply", agent_reply=True)
        await store_transitions(conn, entries=[("c", "T", created), ("c", "T", reply)])
        first = await recompute(conn, keys=[key], now=tuesday_1730, contracts=ContractCache())
        breach = next(e for e in first if isinstance(e.data, SlaBreached))
        assert breach.data.breached_at == london(2026, 11, 3, 17)

        late = [
            Transition("status", london(2026, 11, 3, 10), "e-wait", status="waiting_on_customer"),
            Transition("status", london(2026, 11, 4, 10), "e-work", status="in_progress"),
        ]
        await store_transitions(conn, entries=[("c", "T", t) for t in late])
        second = await recompute(
            conn,
            keys=[key],
            now=tuesday_1730,
            contracts=ContractCache(),
            causes={key: ["e-wait", "e-work"]},
        )
        withdrawn = next(
            e.data
            for e in second
            if isinstance(e.data, SlaOutcomeCorrected) and e.data.statement == "breach"
        )
        assert (withdrawn.corrects_event_id, withdrawn.now_at) == (breach.id, None)
        assert (withdrawn.outcome, withdrawn.because_of) == ("pending", ["e-wait", "e-work"])
        row = await conn.fetchrow("SELECT * FROM clocks WHERE metric = 'resolution'")
        assert row["breached_at"] is None and row["due_at"] == london(2026, 11, 4, 17)

        wednesday_18 = london(2026, 11, 4, 18)
        async with conn.transaction():
            fired = await fire_due(conn, now=wednesday_18, limit=100, schema=schema, namespace="")
        restated = [e for e, *_ in fired if isinstance(e.data, SlaOutcomeCorrected)]
        # the resolution clock's warnings were withdrawn with the breach: restated too
        assert sorted(
            (e.data.statement, e.data.threshold_percent or 100, e.data.now_at, e.data.outcome)
            for e in restated
        ) == [
            ("breach", 100, london(2026, 11, 4, 17), "breached"),
            ("warning", 75, london(2026, 11, 4, 15), "breached"),
            ("warning", 90, london(2026, 11, 4, 16, 12), "breached"),
        ]
        restated_breach = next(e for e in restated if e.data.statement == "breach")
        assert restated_breach.data.corrects_event_id == next(
            e.id for e in second if e.data is withdrawn
        )
        assert not [e for e, *_ in fired if isinstance(e.data, SlaBreached)]
        published = await conn.fetchrow(
            "SELECT * FROM published WHERE statement = 'breach' AND clock_id LIKE '%resolution%'"
        )
        assert (published["event_id"], published["at"]) == (
            restated_breach.id,
            london(2026, 11, 4, 17),
        )
        row = await conn.fetchrow("SELECT * FROM clocks WHERE metric = 'resolution'")
        assert row["breached_at"] == london(2026, 11, 4, 17)
        # a second round and a replay now state nothing new
        async with conn.transaction():
            assert (
                await fire_due(conn, now=wednesday_18, limit=100, schema=schema, namespace="") == []
            )
        again = await recompute(conn, keys=[key], now=wednesday_18, contracts=ContractCache())
        assert not [e for e in again if isinstance(e.data, SlaOutcomeCorrected | SlaBreached)]
    finally:
        await conn.close()


async def test_fired_deadlines_continue_their_ticket_trace(db: tuple[str, str]) -> None:
    url, schema = db
    conn = await connect(url, schema)
    try:
        opened = london(2026, 3, 10, 9)
        await store_contract(conn, customer_id="c", contract=snapshot())
        trace = TraceContext.new()
        created = with_trace(
            ticket_event(
                TicketCreated(
                    ticket_id="T-traced",
                    title="server down",
                    priority="P1",
                    category="incident",
                    source="phone",
                    opened_at=opened,
                ),
                customer="c",
                id="e-traced",
            ),
            trace,
        )
        await store_ticket_traces(conn, traced={("c", "T-traced"): created})
        entries = [
            ("c", t, Transition("created", opened, f"e-{t}", priority="P1"))
            for t in ("T-traced", "T-plain")
        ]
        await store_transitions(conn, entries=entries)
        keys = [("c", "T-traced"), ("c", "T-plain")]
        await recompute(conn, keys=keys, now=opened, contracts=ContractCache())
        async with conn.transaction():
            fired = await fire_due(
                conn, now=opened + timedelta(days=1), limit=100, schema=schema, namespace=""
            )
        by_ticket: dict[str, set[str | None]] = {"T-traced": set(), "T-plain": set()}
        for event, *_ in fired:
            by_ticket[event.data.ticket_id].add(trace_id_of(event))  # type: ignore[attr-defined]
        assert by_ticket == {"T-traced": {trace.trace_id}, "T-plain": {None}}
        published = [decode(r["value"]) for r in await conn.fetch("SELECT value FROM outbox")]
        assert {trace_id_of(e) for e in published if e.subject == "T-traced"} == {trace.trace_id}
    finally:
        await conn.close()
