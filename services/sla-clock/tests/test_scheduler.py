"""The scheduler against real Postgres: due deadlines are claimed with FOR UPDATE SKIP
LOCKED (two instances never fire the same one and never wait on each other), and the
event-time clock follows the stream, persisted."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from msp_events.types.sla import SlaBreached
from sla_clock.contracts import ContractCache, store_contract
from sla_clock.scheduler import fire_due
from sla_clock.service import recompute, store_transitions
from sla_clock.timesource import EPOCH, EventTimeClock, WallClock, advance_event_time
from sla_clock.transitions import Transition

from .conftest import london, schema_of, snapshot

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
