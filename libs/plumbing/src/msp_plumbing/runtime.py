"""`ServiceRuntime` owns what every stateful service runs: the Postgres pool (its
search_path is the service schema), the idempotent producer, the outbox relay and the
transactional consumers. Services declare consumers; the runtime starts and stops
them, and reports liveness and readiness for `/healthz` and `/readyz`.

Every background loop runs under `supervise.Supervisor` (`spawn_task`): transient
errors restart it with backoff; a loop that dies for good fails `/healthz` and
`/readyz` and calls `on_fatal` (`app.serve` ends the process, exit code 1). `stop()`
is bounded (`STOP_TIMEOUT_S` per step) even while Kafka or Postgres do not answer."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from msp_access.dependency import Authenticator
from msp_events.topics import Topic
from msp_plumbing.consumer import BatchHandler, Handler, TransactionalConsumer
from msp_plumbing.outbox import OutboxRelay
from msp_plumbing.producer import idempotent_producer
from msp_plumbing.settings import ServiceSettings
from msp_plumbing.supervise import Supervisor, within

log = logging.getLogger(__name__)
READY_PROBE_S = 2.0
STOP_TIMEOUT_S = 5.0
"""Each shutdown step (loops, producer, pool) gets this long, then is abandoned."""


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[Topic, ...]
    handler: Handler | None
    batch_handler: BatchHandler | None
    namespace: str | None = None
    """Namespace of `topics` when not the service's topic namespace (a consumer of the
    service's own outputs reads them where they are written)."""


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
        self.authenticator: Authenticator | None = None
        self.failure: BaseException | None = None
        self.on_fatal: Callable[[], None] | None = None
        """Called once when a background loop died for good (`app.serve`: exit)."""
        self.supervisor = Supervisor(
            on_fatal=self._fatal,
            give_up_after_s=settings.supervisor_give_up_s,
            not_ready_after_s=settings.supervisor_not_ready_s,
        )

    def add_consumer(
        self,
        name: str,
        topics: Sequence[Topic],
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        namespace: str | None = None,
    ) -> None:
        """Declare a consumer group `<service>.<name>` over `topics`: give `handler`
        (one event at a time) or `batch_handler` (a batch's new events at once).
        `namespace` names the topics when they are not under the topic namespace."""
        self.specs.append(ConsumerSpec(name, tuple(topics), handler, batch_handler, namespace))

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
        self.spawn_task("outbox-relay", self.relay.run)
        self.authenticator = Authenticator(settings=s, pool=self.pool, schema=s.access_schema_name)
        for spec in self.specs:
            consumer = TransactionalConsumer(
                pool=self.pool,
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=s.group_id(spec.name),
                topics=[
                    t.named(s.topic_namespace if spec.namespace is None else spec.namespace)
                    for t in spec.topics
                ],
                handler=spec.handler,
                batch_handler=spec.batch_handler,
                service=s.service_name,
                schema=s.schema_name,
                namespace=s.topic_namespace,
                batch_size=s.consumer_batch_size,
            )
            self.consumers.append(consumer)
            self.spawn_task(f"consumer-{spec.name}", consumer.run)
        log.info("runtime started", extra={"consumers": [c.group_id for c in self.consumers]})

    def spawn_task(
        self, name: str, loop: Callable[[], Awaitable[None]] | Coroutine[Any, Any, None]
    ) -> None:
        """Run a background loop (a consumer, a scheduler, a pruner) supervised: `loop()`
        is called again after a transient error (with backoff); if it dies for good the
        service turns unhealthy and ends (`supervise.py`). Cancelled by `stop()`. Call
        from a `start()` override, after `super().start()`. Pass the function, not a
        coroutine: a bare coroutine cannot be restarted, so any error of it is fatal."""
        if name in self.supervisor.health:
            name = f"{name}-{len(self.supervisor.health)}"
        self.supervisor.spawn(name, loop if callable(loop) else _once(name, loop))

    def _fatal(self, name: str, exc: BaseException) -> None:
        # A dead loop must not look alive: /healthz and /readyz turn 503 and the process
        # ends, so the orchestrator restarts it; it resumes from the offsets in Postgres.
        if self.failure is None:
            self.failure = exc
            if self.on_fatal is not None:
                self.on_fatal()

    async def stop(self) -> None:
        self.authenticator = None
        await self.supervisor.stop(STOP_TIMEOUT_S)
        self.consumers.clear()
        if self.relay is not None:
            await self.relay.close()
        if self.producer is not None:
            producer, self.producer = self.producer, None
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await producer.stop()
            except Exception as exc:  # the broker is away: unsent records are the outbox's
                log.warning("producer did not stop cleanly: %r", exc)
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await pool.close()
            except Exception as exc:
                log.warning("pool did not close cleanly, terminating it: %r", exc)
                pool.terminate()

    async def _postgres_answers(self) -> None:
        # Its own short-lived connection, not the pool's: a query on a frozen server
        # cannot be cancelled until the server answers again, and every probe would
        # keep a pool connection busy until then.
        conn = await asyncpg.connect(self.settings.database_url, timeout=READY_PROBE_S)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            conn.terminate()

    def healthy(self) -> bool:
        return self.failure is None

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; ready when every value is "ok". Each probe gets
        `READY_PROBE_S` and is abandoned after that: a frozen server must turn the
        answer red, not hang it."""
        checks = {"postgres": "error: not started", "kafka": "error: not started"}
        if self.pool is not None:
            checks["postgres"] = await _probe(self._postgres_answers())
        if self.producer is not None:
            checks["kafka"] = await _probe(self.producer.client.fetch_all_metadata())
        if not self.healthy():
            checks["background"] = f"error: {self.failure!r}"
        else:
            problems = self.supervisor.problems()
            checks["background"] = "ok" if not problems else "error: " + "; ".join(problems)
        return checks


def _once(name: str, coro: Coroutine[Any, Any, None]) -> Callable[[], Awaitable[None]]:
    """A loop given as a coroutine: runs once; a restart is impossible, hence fatal."""
    started = False

    async def loop() -> None:
        nonlocal started
        if started:
            raise RuntimeError(f"{name} was given as a coroutine and cannot be restarted")
        started = True
        await coro

    return loop


async def _probe(check: Awaitable[object]) -> str:
    try:
        await within(check, READY_PROBE_S)
    except Exception as exc:
        return f"error: {exc!r}"
    return "ok"


def freeze_startup_heap() -> None:
    """Move what start-up built (modules, pydantic schemas, the app) out of the cyclic
    garbage collector's sight, once per process before serving: a full collection
    otherwise walks all of it again and again under load (measured: ~5 µs per
    consumed event, `bench/README.md`). Refcounting still frees it as usual."""
    gc.collect()
    gc.freeze()
