"""`ServiceRuntime` owns what every stateful service runs: the Postgres pool (its
search_path is the service schema), the idempotent producer, the outbox relay and the
transactional consumers. Services declare consumers; the runtime starts and stops
them, and reports liveness and readiness for `/healthz` and `/readyz`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from msp_events.topics import Topic
from msp_plumbing.consumer import BatchHandler, Handler, TransactionalConsumer
from msp_plumbing.outbox import OutboxRelay, idempotent_producer
from msp_plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[Topic, ...]
    handler: Handler | None
    batch_handler: BatchHandler | None


async def create_pool(database_url: str, *, schema: str, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema},
    )
    assert pool is not None
    return pool


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.specs: list[ConsumerSpec] = []
        self.consumers: list[TransactionalConsumer] = []
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.failure: BaseException | None = None

    def add_consumer(
        self,
        name: str,
        topics: Sequence[Topic],
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        """Declare a consumer group `<service>.<name>` over `topics`: give `handler`
        (one event at a time) or `batch_handler` (a batch's new events at once)."""
        self.specs.append(ConsumerSpec(name, tuple(topics), handler, batch_handler))

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url, schema=s.schema_name, max_size=s.db_pool_max)
        self.producer = idempotent_producer(s.kafka_bootstrap_servers, client_id=s.service_name)
        await self.producer.start()
        self.relay = OutboxRelay(
            pool=self.pool,
            producer=self.producer,
            bootstrap_servers=s.kafka_bootstrap_servers,
            schema=s.schema_name,
        )
        self.spawn_task("outbox-relay", self.relay.run())
        for spec in self.specs:
            consumer = TransactionalConsumer(
                pool=self.pool,
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=s.group_id(spec.name),
                topics=[t.named(s.topic_namespace) for t in spec.topics],
                handler=spec.handler,
                batch_handler=spec.batch_handler,
                service=s.service_name,
                schema=s.schema_name,
                namespace=s.topic_namespace,
                batch_size=s.consumer_batch_size,
            )
            self.consumers.append(consumer)
            self.spawn_task(f"consumer-{spec.name}", consumer.run())
        log.info("runtime started", extra={"consumers": [c.group_id for c in self.consumers]})

    def spawn_task(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a service's own background loop (a scheduler, a pruner) under the runtime:
        cancelled by `stop()`, and if it dies the service turns unhealthy like a dead
        consumer would. Call from a `start()` override, after `super().start()`."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A dead loop must not look alive: /healthz turns 503 and the orchestrator
            # restarts the process, which resumes from the offsets in Postgres.
            self.failure = exc
            log.error("background task %s died: %r", task.get_name(), exc, exc_info=exc)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.consumers.clear()
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    def healthy(self) -> bool:
        return self.failure is None

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; ready when every value is "ok"."""
        checks: dict[str, str] = {}
        try:
            assert self.pool is not None, "not started"
            async with asyncio.timeout(2):
                await self.pool.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {exc!r}"
        try:
            assert self.producer is not None, "not started"
            async with asyncio.timeout(2):
                await self.producer.client.fetch_all_metadata()
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"error: {exc!r}"
        checks["background"] = "ok" if self.healthy() else f"error: {self.failure!r}"
        return checks
