"""Bookkeeping tables are pruned by age, and an unsent outbox row never is."""

from __future__ import annotations

import asyncpg
import pytest

from msp_plumbing.outbox import Retention, prune
from msp_plumbing.runtime import create_pool

pytestmark = pytest.mark.integration


async def test_prune_keeps_unsent_and_recent_rows(
    database_url: str, schema: str, db: asyncpg.Connection
) -> None:
    await db.execute(
        """INSERT INTO outbox (event_id, topic, key, value, created_at, sent_at) VALUES
           ('old-sent', 't', 'k', 'v', now() - interval '9 days', now() - interval '8 days'),
           ('old-unsent', 't', 'k', 'v', now() - interval '9 days', NULL),
           ('new-sent', 't', 'k', 'v', now(), now())"""
    )
    await db.execute(
        """INSERT INTO processed_events (group_id, event_id, processed_at) VALUES
           ('g', 'old', now() - interval '40 days'), ('g', 'new', now())"""
    )
    pool = await create_pool(database_url, schema=schema)
    try:
        assert await prune(pool, Retention()) == (1, 1)
    finally:
        await pool.close()
    left = {r["event_id"] for r in await db.fetch("SELECT event_id FROM outbox")}
    assert left == {"old-unsent", "new-sent"}
    assert [r["event_id"] for r in await db.fetch("SELECT event_id FROM processed_events")] == [
        "new"
    ]
