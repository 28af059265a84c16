"""The delivery worker: claims due deliveries (committed as 'sending' with the attempt
started), sends them concurrently, records each outcome in its own transaction.
Failures are retried with exponential backoff and jitter up to
`delivery_max_attempts`, then dead-lettered (status 'dead', visible in
/v1/deliveries). Runs supervised (`ServiceRuntime.spawn_task`)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import asyncpg

from msp_plumbing.crashpoints import crash_point
from msp_plumbing.supervise import Backoff
from notify import metrics, service
from notify.senders import Outcome, Senders
from notify.service import Claimed
from notify.settings import NotifySettings

log = logging.getLogger(__name__)
BACKLOG_REFRESH_S = 5.0


class DeliveryWorker:
    """One loop over the deliveries of `channels`. The runtime runs one for email and
    one for the HTTP channels, so a slow mail relay never holds a webhook back."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        settings: NotifySettings,
        senders: Senders,
        channels: tuple[str, ...],
    ) -> None:
        self.pool = pool
        self.channels = channels
        self.settings = settings
        self.senders = senders
        self.backoff = Backoff(base_s=settings.retry_base_s, cap_s=settings.retry_cap_s)
        self._backlog_at = 0.0

    async def run(self) -> None:
        """Keep up to `delivery_concurrency` sends in flight: claim as many due
        deliveries as there are free slots, whenever one finishes (or every poll tick),
        so one slow receiver never holds back a whole batch."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                free = self.settings.delivery_concurrency - len(in_flight)
                claimed = await self.claim(min(free, self.settings.delivery_batch))
                in_flight.update(asyncio.create_task(self._deliver(d)) for d in claimed)
                await self._refresh_backlog()
                if not in_flight:
                    await asyncio.sleep(self.settings.delivery_poll_s)  # idle poll tick
                    continue
                done, in_flight = await asyncio.wait(
                    in_flight,
                    timeout=self.settings.delivery_poll_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    task.result()  # a failed recording restarts the loop (supervised)
        finally:
            for task in in_flight:  # their rows stay 'sending': retried after the lease
                task.cancel()

    async def claim(self, limit: int) -> list[Claimed]:
        if limit <= 0:
            return []
        async with self.pool.acquire() as conn, conn.transaction():
            return await service.claim_due(
                conn, limit=limit, lease_s=self.settings.delivery_lease_s, channels=self.channels
            )

    async def _deliver(self, delivery: Claimed) -> None:
        outcome = await self.senders.send(delivery)
        crash_point("notify.after_send")  # tests: the crash between send and record
        async with self.pool.acquire() as conn, conn.transaction():
            status = await self._record(conn, delivery, outcome)
        metrics.DELIVERIES.labels(delivery.channel, status).inc()
        if status == "sent":
            due = max(delivery.due_at, delivery.created_at)
            lag = (datetime.now(UTC) - due).total_seconds()
            metrics.DELIVERY_SECONDS.labels(delivery.channel).observe(max(lag, 0.0))
        elif status == "dead":
            log.warning(
                "delivery %s dead-lettered after %d attempts: %s",
                delivery.delivery_id,
                delivery.attempt,
                outcome.error,
                extra={"delivery_id": delivery.delivery_id, "channel": delivery.channel},
            )

    async def _record(self, conn: asyncpg.Connection, delivery: Claimed, outcome: Outcome) -> str:
        if outcome.ok:
            await service.record_sent(
                conn,
                delivery_id=delivery.delivery_id,
                attempt=delivery.attempt,
                http_status=outcome.http_status,
            )
            return "sent"
        last = outcome.permanent or delivery.attempt >= self.settings.delivery_max_attempts
        return await service.record_failed(
            conn,
            delivery_id=delivery.delivery_id,
            attempt=delivery.attempt,
            http_status=outcome.http_status,
            error=outcome.error or "failed",
            retry_in_s=None if last else self.backoff.delay(delivery.attempt - 1),
        )

    async def _refresh_backlog(self) -> None:
        now = time.monotonic()
        if now - self._backlog_at < BACKLOG_REFRESH_S:
            return
        self._backlog_at = now
        async with self.pool.acquire() as conn:
            metrics.RETRY_BACKLOG.set(await service.retry_backlog(conn))
