"""The service's runtime: the plumbing's ServiceRuntime (pool, outbox relay, the
projection consumer) plus the Faust app, all on one event loop. Faust starts after the
pool exists (its sink writes the outbox) and stops before it closes."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from faust.contrib.asgi import faust_app_running

from incidents.consumers import project_incidents
from incidents.faust_app import FaustParts, build_faust_app
from incidents.lag import export_group_lag
from incidents.settings import IncidentsSettings
from incidents.sink import PostgresSink
from msp_events.topics import CONTRACTS, INCIDENTS, MONITORING
from msp_plumbing.runtime import ServiceRuntime

log = logging.getLogger(__name__)


class IncidentsRuntime(ServiceRuntime):
    def __init__(self, settings: IncidentsSettings) -> None:
        super().__init__(settings)
        self.incidents_settings = settings
        self.faust: FaustParts | None = None
        self._stack = AsyncExitStack()
        self.add_consumer("projection", [INCIDENTS], batch_handler=project_incidents)

    async def start(self) -> None:
        await super().start()
        assert self.pool is not None
        sink = PostgresSink(self.pool, schema=self.settings.schema_name)
        self.faust = build_faust_app(self.incidents_settings, sink)
        await self._stack.enter_async_context(faust_app_running(self.faust.app))
        log.info("faust app started", extra={"app": self.faust.app.conf.id})
        ns = self.settings.topic_namespace
        lag = export_group_lag(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group=self.faust.app.conf.id,  # the triage agent's consumer group
            topics=[MONITORING.named(ns), CONTRACTS.named(ns)],
        )
        self.spawn_task("triage-lag", lag)

    async def stop(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            self.faust = None
            await super().stop()

    def healthy(self) -> bool:
        crashed = self.faust is not None and self.faust.app._crash_reason is not None
        return super().healthy() and not crashed

    async def readiness(self) -> dict[str, str]:
        checks = await super().readiness()
        if self.faust is None:
            checks["faust"] = "error: not started"
        elif self.faust.app._crash_reason is not None:
            checks["faust"] = f"error: {self.faust.app._crash_reason!r}"
        else:
            checks["faust"] = "ok"
        return checks
