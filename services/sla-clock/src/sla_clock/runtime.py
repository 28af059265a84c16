"""The sla-clock runtime: the plumbing's runtime (pool, producer, outbox relay,
transactional consumer) plus the deadline scheduler."""

from __future__ import annotations

import asyncpg

from msp_events.topics import CONTRACTS, INCIDENTS, TICKETS
from msp_plumbing.runtime import ServiceRuntime
from sla_clock.consumers import make_batch_handler
from sla_clock.contracts import ContractCache
from sla_clock.scheduler import Scheduler
from sla_clock.settings import SlaSettings
from sla_clock.timesource import Now, clock_for


class SlaRuntime(ServiceRuntime):
    def __init__(self, settings: SlaSettings, *, clock: Now | None = None) -> None:
        super().__init__(settings)
        self.sla_settings = settings
        self.clock = clock or clock_for(settings.scheduler_clock)
        self.contracts = ContractCache()
        self.scheduler: Scheduler | None = None
        self.add_consumer(
            "clocks",
            [TICKETS, CONTRACTS, INCIDENTS],
            batch_handler=make_batch_handler(clock=self.clock, contracts=self.contracts),
        )

    async def start(self) -> None:
        await super().start()
        assert self.pool is not None
        s = self.sla_settings
        self.scheduler = Scheduler(
            pool=self.pool,
            clock=self.clock,
            schema=s.schema_name,
            namespace=s.topic_namespace,
            interval_s=s.scheduler_interval_s,
            batch_size=s.scheduler_batch_size,
        )
        self._spawn("scheduler", self.scheduler.run())

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("runtime not started")
        return self.pool
