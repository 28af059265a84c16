"""A time entry that waited for its customer's contract and cannot be recorded when
the contract arrives is dead-lettered alone: the contract applies, the other entries
are recorded (real broker and Postgres)."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from billing_factory import NY, entry, entry_event, local, on_demand_ny, snapshot_event
from billing_harness import connect, running, settings_for, setup_topics

from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import decode, encode
from msp_events.topics import CONTRACTS, DEAD_LETTER, TICKETS
from msp_events.types.deadletter import DeadLetterRecorded
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

# A valid but extreme rate: a day's work at it passes Money's 14 integer digits, a
# minute's (billed as the 30-minute minimum) does not. The failure is the entry's.
EXTREME = on_demand_ny(
    rates={
        "currency": "USD",
        "standard_hourly": Decimal("99999999999999"),
        "after_hours_multiplier": Decimal("1.5"),
        "weekend_multiplier": Decimal("1.75"),
        "holiday_multiplier": Decimal("2"),
        "emergency_multiplier": Decimal("2"),
        "minimum_minutes": 30,
        "increment_minutes": 15,
    }
)


async def test_a_waiting_entry_that_fails_is_dead_lettered_and_the_contract_applies(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    db = await connect(database_url, schema)
    small = entry(local(NY, 2026, 3, 10, 9), 1, ticket_id="T-1")
    huge = entry(local(NY, 2026, 3, 10, 9), 24 * 60, ticket_id="T-2")
    after = entry(local(NY, 2026, 3, 11, 9), 1, ticket_id="T-3")
    other = entry(local(NY, 2026, 3, 10, 9), 60, ticket_id="O-1")
    tickets, contracts = TICKETS.named(namespace), CONTRACTS.named(namespace)
    bad = entry_event("cust-1", huge)
    await produce(kafka_bootstrap, tickets, [entry_event("cust-1", small), bad])
    async with running(settings_for(kafka_bootstrap, database_url, namespace, schema)):

        async def parked() -> bool:
            return await db.fetchval("SELECT count(*) FROM parked_records") == 2

        await wait_for_async(parked, timeout=60, message="both waiting entries parked")
        await produce(
            kafka_bootstrap,
            contracts,
            [snapshot_event("cust-1", EXTREME), snapshot_event("cust-2", on_demand_ny())],
        )
        await produce(
            kafka_bootstrap, tickets, [entry_event("cust-1", after), entry_event("cust-2", other)]
        )

        async def recorded() -> bool:
            rows = await db.fetch("SELECT DISTINCT entry_id FROM line_items")
            return {r["entry_id"] for r in rows} >= {small.entry_id, after.entry_id, other.entry_id}

        await wait_for_async(recorded, timeout=90, message="the other entries recorded")
        stored = await db.fetch("SELECT customer_id FROM contracts ORDER BY customer_id")
        assert [r["customer_id"] for r in stored] == ["cust-1", "cust-2"]
        records = await read_topic(kafka_bootstrap, DEAD_LETTER.named(namespace))
    letters = [decode(r.value).data for r in records]
    assert len(letters) == 1, [getattr(d, "reason", d) for d in letters]
    letter = letters[0]
    assert isinstance(letter, DeadLetterRecorded)
    assert base64.b64decode(letter.original_value_b64) == encode(bad).value
    assert letter.reason.startswith("handler failed: time entry " + huge.entry_id)
    assert (
        await db.fetchval("SELECT count(*) FROM line_items WHERE entry_id = $1", huge.entry_id) == 0
    )
    assert await db.fetchval("SELECT count(*) FROM entries WHERE entry_id = $1", huge.entry_id) == 0
    assert await db.fetchval("SELECT count(*) FROM parked_records") == 0
    await db.close()
