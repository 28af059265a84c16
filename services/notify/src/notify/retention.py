"""Retention of the delivery log: sent and dead deliveries, with their attempts, are
deleted `delivery_retention_days` after they ended, in batches (one transaction each,
so a long backlog never holds a long lock), every `retention_interval_s`. Runs
supervised (`ServiceRuntime.spawn_task`): an error restarts the loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from notify import metrics, service
from notify.settings import NotifySettings

log = logging.getLogger(__name__)


async def prune_once(pool: asyncpg.Pool, settings: NotifySettings) -> int:
    """Delete every delivery past retention now; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.delivery_retention_days)
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            pruned = await service.prune_settled(
                conn, older_than=cutoff, limit=settings.retention_batch
            )
        total += pruned
        metrics.PRUNED.inc(pruned)
        if pruned < settings.retention_batch:
            return total


async def run_retention(pool: asyncpg.Pool, settings: NotifySettings) -> None:
    while True:
        pruned = await prune_once(pool, settings)
        if pruned:
            log.info(
                "pruned %d deliveries older than %s days", pruned, settings.delivery_retention_days
            )
        await asyncio.sleep(settings.retention_interval_s)
