"""Triage over its Postgres state (the consumer's handler and the scheduler, on the real
Postgres, without Kafka): batches load only what they need and give exactly what the
rules give over a customer's whole state in memory (hypothesis), the wall-clock
scheduler fires what is due, terminated contracts, and a big customer's batches stay
small."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from incidents_factory import contract, firing, heartbeat, maintenance, resolved, t

from incidents import store, triage
from incidents.config import TriageConfig
from incidents.consumers import make_triage_handler
from incidents.outputs import Effects
from incidents.scheduler import TriageScheduler, advance_due
from incidents.state import CustomerState
from msp_devstack.testing import new_namespace
from msp_events import Envelope, decode, encode, make_event
from msp_events.tracing import TraceContext, trace_of, with_trace
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_plumbing.consumer import DeadLetters, Tx
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

CFG = TriageConfig()
HANDLE = make_triage_handler(CFG)
LETTERS = DeadLetters(group_id="g", service="incidents", topic="dlq")


@pytest.fixture(scope="module")
async def pg(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = new_namespace().strip("_")
    await migrate(database_url, schema=schema, package="incidents")
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


async def run(pool: asyncpg.Pool, events: Sequence[Envelope]) -> list[Envelope]:
    """One batch through the triage handler, committed; its output events."""
    async with pool.acquire() as conn, conn.transaction():
        tx = Tx(conn=conn, namespace="")
        await HANDLE(tx, events)
    return [decode(o.value) for o in tx.outbox]


async def outcomes(pool: asyncpg.Pool, customer: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT outcome FROM triage_log WHERE customer_id = $1 ORDER BY at, event_id", customer
    )
    return [r["outcome"] for r in rows]


async def test_wall_clock_scheduler_resolves_without_new_events(pg: asyncpg.Pool) -> None:
    c = "sched-co"
    out = await run(pg, [contract(c), firing(c, "a", t(0)), resolved(c, "a", t(10))])
    assert [e.type for e in out][-1] == "msp.ticket.created.v1"
    scheduler = TriageScheduler(pool=pg, cfg=CFG, schema="", namespace="", group="g", interval_s=1)
    assert await scheduler.run_once(t(10) + timedelta(seconds=CFG.holddown_s - 1)) == 0
    assert await scheduler.run_once(t(10) + timedelta(seconds=CFG.holddown_s)) == 1
    rows = await pg.fetch("SELECT value FROM outbox WHERE key = $1 ORDER BY id", c.encode())
    assert [decode(r["value"]).type for r in rows] == [
        "msp.incident.resolved.v1",
        "msp.ticket.resolved.v1",
    ]
    # nothing left to do: the customer is not claimed again, its state is gone
    assert await scheduler.run_once(t(10_000)) == 0
    assert await pg.fetchval("SELECT count(*) FROM triage_incidents WHERE customer_id = $1", c) == 0


async def test_state_survives_between_batches(pg: asyncpg.Pool) -> None:
    c = "rt-co"
    await run(pg, [contract(c), firing(c, "a", t(0), device="d1")])
    await run(pg, [firing(c, "b", t(5), device="d1")])
    assert await outcomes(pg, c) == ["opened", "correlated"]


async def test_terminated_contract_stops_monitoring(pg: asyncpg.Pool) -> None:
    c = "term-co"
    snap = contract(c).data
    assert isinstance(snap, ContractSnapshot)
    ended = ContractTerminated(
        contract_id=snap.contract_id, versions=snap.versions, effective_at=t(0), reason="moved on"
    )
    end = make_event(ended, customer_id=c, source="/t", time=t(0), id="end-1")
    assert await run(pg, [end, firing(c, "a", t(60))]) == []
    rows = await pg.fetch("SELECT outcome, reason FROM triage_log WHERE customer_id = $1", c)
    assert [r["outcome"] for r in rows] == ["not_monitored"]
    assert "contract ended" in rows[0]["reason"]


async def test_a_batch_of_a_big_customer_loads_only_what_it_names(pg: asyncpg.Pool) -> None:
    c = "big-co"
    await run(pg, [contract(c)])
    for chunk in range(4):  # 2,000 alert identities over 400 sites
        await run(
            pg,
            [
                firing(c, f"fp-{i}", t(i), device=f"d-{i}", site=f"s-{i // 5}")
                for i in range(chunk * 500, (chunk + 1) * 500)
            ],
        )
    assert await pg.fetchval("SELECT count(*) FROM triage_alerts WHERE customer_id = $1", c) == 2000
    async with pg.acquire() as conn, conn.transaction():
        batch = await store.load(
            conn, events=[firing(c, "fp-7", t(2001), device="d-7", site="s-1")]
        )
    state = batch.states[c]
    # the alert it names, and the other alerts of the incident it can join (its site's)
    assert set(state.alerts) == {f"fp-{i}" for i in range(5, 10)}
    assert len(state.incidents) == 1


async def test_outputs_continue_the_alert_trace_and_the_log_line_says_the_outcome(
    pg: asyncpg.Pool,
) -> None:
    c = "trace-co"
    trace = TraceContext.new()
    alert = with_trace(firing(c, "a", t(0)), trace)
    async with pg.acquire() as conn, conn.transaction():
        tx = Tx(conn=conn, namespace="")
        await HANDLE(tx, [contract(c), alert])
    outputs = [decode(o.value) for o in tx.outbox]
    assert {e.type for e in outputs} >= {"msp.incident.opened.v1", "msp.ticket.created.v1"}
    for event in outputs:
        ctx = trace_of(event)
        assert ctx is not None and ctx.trace_id == trace.trace_id, event.type
        assert ctx.span_id != trace.span_id
    assert tx.outcomes[alert.id] == "opened"  # the consumer's log line for the alert


@dataclass
class _Record:
    """A consumed record as the plumbing's consumer hands it over."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


# an alert timeout that overflows the calendar for an alert dated 2099, not for 2026
OVERFLOWING = TriageConfig(alert_timeout_s=int(7950 * 365.25 * 86400))


async def test_a_waiting_alert_that_fails_when_its_contract_comes_is_dead_lettered_alone(
    pg: asyncpg.Pool,
) -> None:
    c = "waiting-co"
    handle = make_triage_handler(OVERFLOWING)
    letters = LETTERS
    bad = firing(c, "far", datetime(2099, 12, 31, 23, tzinfo=UTC), device="d9", id="bad-1")
    good = firing(c, "near", t(0), device="d1", id="good-1")
    records = {}
    for offset, e in enumerate([bad, good]):
        r = encode(e)
        records[e.id] = _Record("mon", 0, offset, 0, r.key, r.value)
    async with pg.acquire() as conn, conn.transaction():
        tx = Tx(conn=conn, namespace="", records=records, dead_letters=letters)
        await handle(tx, [bad, good])
    assert await outcomes(pg, c) == ["pending", "pending"]
    assert await pg.fetchval("SELECT count(*) FROM parked_records") == 2
    async with pg.acquire() as conn, conn.transaction():
        tx = Tx(conn=conn, namespace="", dead_letters=letters)
        await handle(tx, [contract(c)])
    out = [decode(o.value) for o in tx.outbox]
    dead = [e for e in out if e.type == "msp.deadletter.recorded.v1"]
    assert len(dead) == 1
    assert dead[0].data.original_value() == records["bad-1"].value  # type: ignore[attr-defined]
    assert dead[0].data.reason.startswith("handler failed: OverflowError")  # type: ignore[attr-defined]
    assert "msp.incident.opened.v1" in {e.type for e in out}  # the good one, on the contract
    rows = dict(
        await pg.fetch("SELECT event_id, outcome FROM triage_log WHERE customer_id = $1", c)
    )
    assert rows == {"bad-1": "dead_lettered", "good-1": "opened"}
    assert await pg.fetchval("SELECT count(*) FROM parked_records") == 0
    assert await pg.fetchval(
        "SELECT contract IS NOT NULL FROM triage_customers WHERE customer_id = $1", c
    )


# -- the store gives what the rules give over the whole state ----------------------

C = "prop-co"
KINDS = ("fire", "resolve", "beat", "window")


@st.composite
def histories(draw: st.DrawFn) -> list[Envelope]:
    n = draw(st.integers(1, 25))
    at, events = 0.0, []
    for i in range(n):
        at += draw(st.sampled_from([0, 5, 30, 90, 200, 700, 4 * 3600 + 1]))
        kind = draw(st.sampled_from(KINDS))
        fp = draw(st.sampled_from(["a", "b", "c", "d"]))
        device = draw(st.sampled_from(["d1", "d2", "d3"]))
        site = draw(st.sampled_from(["s1", "s2"]))
        if kind == "fire":
            events.append(firing(C, fp, t(at), device=device, site=site, id=f"p{i}"))
        elif kind == "resolve":
            events.append(resolved(C, fp, t(at), device=device, site=site, id=f"p{i}"))
        elif kind == "beat":
            events.append(heartbeat(C, device, t(at), site=site))
        else:
            end = at + draw(st.sampled_from([60, 400]))
            events.append(maintenance(C, f"w{i}", t(at), t(end), devices=[device]))
    return events


def in_memory(events: list[Envelope], until: datetime) -> tuple[list[str], list[tuple[str, str]]]:
    state = CustomerState(customer_id=C)
    snap = contract(C).data
    assert isinstance(snap, ContractSnapshot)
    fx = Effects(C)
    for e in events:
        fx.extend(triage.apply_event(state, snap, e, CFG))
    fx.extend(triage.advance(state, snap, until, CFG))  # the wall clock, no more events
    return [e.id for e in fx.events], [(r.event_id, r.outcome) for r in fx.log]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=histories(),
    cuts=st.lists(st.integers(0, 25), max_size=5),
    later=st.sampled_from([60, 700, 4 * 3600 + 60]),
)
@example(  # two devices fall silent at once: their alerts in a fixed order, not load order
    events=[
        heartbeat(C, "d2", t(0), site="s1"),
        heartbeat(C, "d1", t(0), site="s1"),
        firing(C, "a", t(0), device="d1", site="s1", id="x1"),
        firing(C, "a", t(120), device="d1", site="s1", id="x2"),
    ],
    cuts=[3],
    later=60,
)
async def test_batches_over_postgres_equal_the_rules_over_the_whole_state(
    database_url: str, events: list[Envelope], cuts: list[int], later: int
) -> None:
    """Batches (cut anywhere) and then the wall-clock scheduler `later` seconds after
    the last event, over the Postgres state, give the outputs and log of the rules
    applied to one whole in-memory state."""
    until = max(e.time for e in events) + timedelta(seconds=later)
    schema = new_namespace().strip("_")
    await migrate(database_url, schema=schema, package="incidents")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        ids: list[str] = []
        async with conn.transaction():
            ids += [e.id for e in await _run_conn(conn, [contract(C)])]
        bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
        for lo, hi in itertools.pairwise(bounds):
            async with conn.transaction():
                ids += [e.id for e in await _run_conn(conn, events[lo:hi])]
        async with conn.transaction():
            tx = Tx(conn=conn, namespace="", dead_letters=LETTERS)
            await advance_due(tx, now=until, cfg=CFG, schema="", limit=10)
            fired = await conn.fetch("SELECT value FROM outbox ORDER BY id")
        ids += [decode(r["value"]).id for r in fired]
        log = await conn.fetch("SELECT event_id, outcome FROM triage_log")
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
    want_ids, want_log = in_memory(events, until)
    assert ids == want_ids
    first: dict[str, str] = {}  # the log keeps one outcome per event: its first
    for event_id, outcome in want_log:
        first.setdefault(event_id, outcome)
    assert {r["event_id"]: r["outcome"] for r in log} == first


async def _run_conn(conn: asyncpg.Connection, events: Sequence[Envelope]) -> list[Envelope]:
    tx = Tx(conn=conn, namespace="")
    await HANDLE(tx, events)
    return [decode(o.value) for o in tx.outbox]
