"""Incidents are stored set-based per batch (`service.store_incidents`): the row each
incident ends with is the one the events would leave applied one by one, in order
(the rule before batching, kept below as the reference), whatever the mix of opens and
resolves, their order, and what the table held before."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from msp_events import Envelope, make_event
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from sla_clock.service import store_incidents

from .conftest import schema_of

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)


async def store_one_by_one(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """The reference: each event's upsert on its own, in order."""
    for event in events:
        data = event.data
        if isinstance(data, IncidentOpened):
            await conn.execute(
                """INSERT INTO incidents (customer_id, incident_id, opened_at,
                                          parent_incident_id, scope)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (customer_id, incident_id) DO UPDATE
                   SET opened_at = EXCLUDED.opened_at, scope = EXCLUDED.scope,
                       parent_incident_id = EXCLUDED.parent_incident_id""",
                event.customer_id,
                data.incident_id,
                data.opened_at,
                data.parent_incident_id,
                data.scope,
            )
        elif isinstance(data, IncidentResolved):
            await conn.execute(
                """INSERT INTO incidents (customer_id, incident_id, opened_at, resolved_at,
                                          scope)
                   VALUES ($1, $2, $3, $4, 'customer')
                   ON CONFLICT (customer_id, incident_id) DO UPDATE
                   SET resolved_at = EXCLUDED.resolved_at""",
                event.customer_id,
                data.incident_id,
                data.resolved_at - timedelta(seconds=data.duration_seconds),
                data.resolved_at,
            )


def random_events(rng: random.Random, customer: str, n: int) -> list[Envelope]:
    events = []
    for i in range(n):
        incident = f"inc-{rng.randrange(3)}"
        at = T0 + timedelta(minutes=rng.randrange(600))
        if rng.random() < 0.5:
            data: IncidentOpened | IncidentResolved = IncidentOpened(
                incident_id=incident,
                title="down",
                priority="P2",
                impact="high",
                urgency="high",
                scope=rng.choice(["site", "customer"]),
                site_id="site-1",
                alert_fingerprints=["fp-1"],
                check_kind="server_down",
                parent_incident_id=rng.choice([None, "inc-parent"]),
                priority_reason="r",
                tier="managed",
                opened_at=at,
            )
        else:
            data = IncidentResolved(
                incident_id=incident,
                resolved_at=at,
                duration_seconds=rng.randrange(7200),
                reason="recovered",
            )
        events.append(
            make_event(data, customer_id=customer, source="/incidents", time=at, id=f"e-{i}")
        )
    return events


async def rows(conn: asyncpg.Connection, customer: str) -> list[tuple[object, ...]]:
    found = await conn.fetch(
        """SELECT incident_id, opened_at, resolved_at, parent_incident_id, scope
           FROM incidents WHERE customer_id = $1 ORDER BY incident_id""",
        customer,
    )
    return [tuple(r) for r in found]


async def test_a_batch_leaves_the_rows_its_events_leave_one_by_one(
    database_url: str, namespace: str
) -> None:
    from msp_plumbing.migrations import migrate

    schema = schema_of(namespace)
    await migrate(database_url, schema=schema, package="sla_clock")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        for seed in range(60):
            rng = random.Random(seed)
            before = random_events(rng, "x", rng.randrange(3))  # what the table held
            batch = random_events(rng, "x", rng.randrange(1, 8))
            one, many = f"one-{seed}", f"many-{seed}"
            for customer in (one, many):
                moved = [e.model_copy(update={"customer_id": customer}) for e in before]
                await store_one_by_one(conn, moved)
            await store_one_by_one(conn, [e.model_copy(update={"customer_id": one}) for e in batch])
            await store_incidents(
                conn, events=[e.model_copy(update={"customer_id": many}) for e in batch]
            )
            assert await rows(conn, many) == await rows(conn, one), f"seed {seed}"
    finally:
        await conn.close()
