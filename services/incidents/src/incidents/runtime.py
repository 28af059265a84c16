"""The service's runtime: the plumbing's ServiceRuntime with two transactional
consumers (triage over monitoring + contracts, the projection over incidents), the
outbox relay, and the wall-clock triage scheduler, all on one event loop."""

from __future__ import annotations

from incidents.consumers import make_triage_handler, project_incidents
from incidents.scheduler import TriageScheduler
from incidents.settings import IncidentsSettings
from msp_events.topics import CONTRACTS, INCIDENTS, MONITORING
from msp_plumbing.runtime import ServiceRuntime


class IncidentsRuntime(ServiceRuntime):
    def __init__(self, settings: IncidentsSettings) -> None:
        super().__init__(settings)
        self.incidents_settings = settings
        self.scheduler: TriageScheduler | None = None
        handler = make_triage_handler(settings.triage_config())
        self.add_consumer("triage", [MONITORING, CONTRACTS], batch_handler=handler)
        self.add_consumer("projection", [INCIDENTS], batch_handler=project_incidents)

    async def start(self) -> None:
        await super().start()
        s = self.incidents_settings
        if s.wall_clock_tick_s > 0:
            assert self.pool is not None
            self.scheduler = TriageScheduler(
                pool=self.pool,
                cfg=s.triage_config(),
                schema=s.schema_name,
                namespace=s.topic_namespace,
                group=s.group_id("triage"),
                interval_s=s.wall_clock_tick_s,
            )
            self.spawn_task("triage-scheduler", self.scheduler.run)  # restartable
