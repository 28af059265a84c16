"""The notify runtime: the plumbing's runtime (pool, consumer) plus the delivery worker
and its HTTP client, and the delivery log's pruner."""

from __future__ import annotations

import httpx

from msp_events.topics import CONTRACTS, INCIDENTS, SLA
from msp_plumbing.runtime import ServiceRuntime
from notify.consumers import make_batch_handler
from notify.retention import run_retention
from notify.senders import Senders
from notify.settings import NotifySettings
from notify.worker import DeliveryWorker


class NotifyRuntime(ServiceRuntime):
    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        self.notify_settings = settings
        self.http: httpx.AsyncClient | None = None
        self.workers: list[DeliveryWorker] = []
        self.add_consumer(
            "notices", [CONTRACTS, SLA, INCIDENTS], batch_handler=make_batch_handler(settings)
        )

    async def start(self) -> None:
        await super().start()
        assert self.pool is not None
        self.http = httpx.AsyncClient(follow_redirects=False)
        senders = Senders(self.notify_settings, self.http)
        for name, channels in (("email", ("email",)), ("http", ("webhook", "slack", "teams"))):
            worker = DeliveryWorker(
                pool=self.pool, settings=self.notify_settings, senders=senders, channels=channels
            )
            self.workers.append(worker)
            self.spawn_task(f"delivery-worker-{name}", worker.run)
        pool, settings = self.pool, self.notify_settings
        self.spawn_task("delivery-retention", lambda: run_retention(pool, settings))

    async def stop(self) -> None:
        await super().stop()
        if self.http is not None:
            http, self.http = self.http, None
            await http.aclose()
