"""The ingest runtime and app: msp_plumbing's ServiceRuntime (pool, idempotent producer,
outbox relay, the raw-topic consumer) plus the HTTP `Intake`, its claim workers, the
in-doubt resolver and a pruning loop, all supervised background loops."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from fastapi import FastAPI

from ingest.claims import DoubtResolver, GroupClaims
from ingest.consumers import RAW_TOPICS, make_reemit
from ingest.fastpath import EventsFastPath
from ingest.pipeline import Intake
from ingest.settings import IngestSettings
from ingest.tracing import RequestTrace
from ingest.views import pagerduty_router, router
from msp_access.ratelimit import TokenBuckets
from msp_plumbing.app import create_app
from msp_plumbing.runtime import STOP_TIMEOUT_S, ServiceRuntime
from msp_plumbing.supervise import is_transient, within

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0
RECONCILE_TIMEOUT_S = 20.0
CLAIM_INSERTERS = 2
"""Claim groups being INSERTed at once (two, so that one waiting on the row lock of a
re-post in flight does not stall the others). Any number of claimed groups then wait
for Kafka, holding no connection meanwhile."""
CLAIM_CONNECTIONS = 6
"""The claims' own pool: the inserters plus the groups recording their outcome at once
(a group waits for a connection, within `db_timeout_s`, when more record together)."""


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The claims pool's reset: nothing. asyncpg's default resets each released
    connection with a query (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`), a round trip and four statements per claim INSERT and UPDATE, the largest
    item in Postgres's share of a single post. The claims run single autocommit
    statements that leave no session state (an open transaction is still rolled back
    by asyncpg before this is called)."""


async def claims_pool(database_url: str, *, schema: str) -> asyncpg.Pool:
    """No connection at start (min_size 0): a frozen Postgres must not hold the start."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=0,
        max_size=CLAIM_CONNECTIONS,
        server_settings={"search_path": schema},
        reset=_keep_session,
    )
    assert pool is not None
    return pool


class IngestRuntime(ServiceRuntime):
    settings: IngestSettings

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(settings)
        self.intake: Intake | None = None
        self.claims_pool: asyncpg.Pool | None = None
        self.add_consumer(
            "raw", RAW_TOPICS, batch_handler=make_reemit(settings.event_time_window())
        )

    async def start(self) -> None:
        await super().start()
        s = self.settings
        assert self.pool is not None and self.producer is not None
        assert self.authenticator is not None
        self.claims_pool = await claims_pool(s.database_url, schema=s.schema_name)
        claims = GroupClaims(
            pool=self.claims_pool,
            producer=self.producer,
            bootstrap_servers=s.kafka_bootstrap_servers,
            namespace=s.topic_namespace,
            produce_timeout_s=s.produce_timeout_s,
            db_timeout_s=s.db_timeout_s,
        )
        self.intake = Intake(
            claims=claims,
            authenticator=self.authenticator,
            buckets=TokenBuckets(rate=s.rate_limit_events_per_s, burst=s.rate_limit_burst),
            accept_timeout_s=s.accept_timeout_s,
            max_event_bytes=s.max_event_bytes,
            event_lines=s.event_lines,
            time_window=s.event_time_window(),
        )
        for n in range(CLAIM_INSERTERS):
            self.spawn_task(f"claims-{n}", claims.run)
        self.spawn_task("claims-record", claims.record)
        resolver = DoubtResolver(
            pool=self.pool,
            claims=claims,
            bootstrap_servers=s.kafka_bootstrap_servers,
            orphan_grace_s=s.doubt_orphan_grace_s,
        )
        await self._reconcile(resolver)
        self.spawn_task("resolve-doubts", resolver.run)
        self.spawn_task("prune-accepted", self._prune_accepted)

    async def _reconcile(self, resolver: DoubtResolver) -> None:
        """Before serving: confirm from the topics the ids an earlier process left
        `pending` (killed between Kafka's ack and recording it), so a client's retry
        is a duplicate (202), not "outcome unknown". Bounded: with Kafka or Postgres
        away the process serves anyway and the resolver's rounds do it later."""
        try:
            await within(resolver.reconcile_at_start(), RECONCILE_TIMEOUT_S)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("start-up reconcile of pending ids deferred: %r", exc)

    async def stop(self) -> None:
        intake, self.intake = self.intake, None
        await super().stop()
        if intake is not None:
            await intake.claims.close()
        if self.claims_pool is not None:
            pool, self.claims_pool = self.claims_pool, None
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await pool.close()
            except Exception as exc:
                log.warning("claims pool did not close cleanly, terminating it: %r", exc)
                pool.terminate()

    async def _prune_accepted(self) -> None:
        """Forget accepted ids after the retention: re-posts older than that are
        published again (downstream dedupe windows are of the same order)."""
        while True:
            assert self.pool is not None
            status = await self.pool.execute(
                "DELETE FROM accepted_events WHERE accepted_at < now() - make_interval(days => $1)",
                self.settings.accepted_ids_retention_days,
            )
            log.info("pruned accepted ids: %s", status)
            await asyncio.sleep(PRUNE_EVERY_S)


def create_ingest_app(runtime: IngestRuntime) -> FastAPI:
    app = create_app(runtime=runtime, title="MSP ingest", routers=[router, pagerduty_router])
    app.state.max_body_bytes = runtime.settings.max_body_bytes
    app.state.max_batch_events = runtime.settings.max_batch_events
    return app


def serving_app(runtime: IngestRuntime) -> RequestTrace:
    """What uvicorn serves: the app behind the `POST /v1/events` fast path, each request
    in its W3C trace (`tracing.RequestTrace`)."""
    return RequestTrace(EventsFastPath(create_ingest_app(runtime)))
