"""The sla-clock runtime: the plumbing's runtime (pool, producer, outbox relay,
transactional consumer) plus the deadline scheduler."""

from __future__ import annotations

import gc

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
        handler = make_batch_handler(clock=self.clock, contracts=self.contracts)
        for _ in range(settings.consumers_per_process):  # one group: partitions split
            self.add_consumer("clocks", [TICKETS, CONTRACTS, INCIDENTS], batch_handler=handler)

    async def start(self) -> None:
        tune_gc()
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
            contracts=self.contracts,
        )
        self.spawn_task("scheduler", self.scheduler.run)

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("runtime not started")
        return self.pool


GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    """A consumer batch allocates a few hundred thousand short-lived objects (decoded
    events, transitions, clocks, rows, output events). With CPython's default young
    generation (700 allocations) the collector ran constantly over objects still in use
    by the batch: 10-20 % of the handler's time in profiles. A larger young generation
    lets them die first; `freeze` moves everything alive at start-up (modules, settings)
    out of the collector's way. Process-wide, which is fine: the process is this
    service's (`python -m sla_clock`)."""
    if gc.get_threshold() != GC_THRESHOLDS:  # once per process (tests start many runtimes)
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
