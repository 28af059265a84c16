"""The one-shot deployment step: create the registry's topics and run every service's
migrations, then exit 0 (compose: `service_completed_successfully`; Kubernetes: the
migration Job, with `migrate` only because Strimzi owns the topics there).

    python /app/msp_init.py all       # topics + migrations (docker-compose)
    python /app/msp_init.py migrate   # migrations only (Kubernetes Job)
    python /app/msp_init.py topics    # topics only

Both steps are idempotent and safe to run concurrently with another runner, so a
re-run after a partial failure simply finishes the job.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg
from aiokafka.errors import KafkaError
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from msp_events.topics import TOPICS
from msp_plumbing.kafka_admin import ensure_topics, wait_for_broker
from msp_plumbing.migrations import migrate

SERVICE_SCHEMAS: tuple[tuple[str, str], ...] = (
    ("access", "msp_access"),
    ("ingest", "ingest"),
    ("incidents", "incidents"),
    ("sla_clock", "sla_clock"),
    ("billing", "billing"),
    ("notify", "notify"),
)
"""(Postgres schema, package holding `migrations/`): the same pairs as
`msp_devstack.stack.SERVICE_SCHEMAS` (a deploy test checks they agree)."""


class InitSettings(BaseSettings):
    """Env: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, MSP_TOPIC_NAMESPACE,
    MSP_TOPIC_REPLICATION_FACTOR (0 = min(3, brokers)), MSP_INIT_WAIT_S."""

    model_config = SettingsConfigDict(env_prefix="MSP_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="kafka:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "MSP_KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str = Field(
        default="", validation_alias=AliasChoices("DATABASE_URL", "MSP_DATABASE_URL")
    )
    topic_namespace: str = ""
    topic_replication_factor: int = Field(default=0, ge=0, le=32767)
    init_wait_s: float = Field(default=120.0, gt=0, description="How long to wait for Kafka")


async def create_topics(settings: InitSettings) -> None:
    await wait_for_broker(settings.kafka_bootstrap_servers, timeout=settings.init_wait_s)
    created = await ensure_topics(
        settings.kafka_bootstrap_servers,
        TOPICS,
        namespace=settings.topic_namespace,
        replication_factor=settings.topic_replication_factor or None,
    )
    print(f"topics: {len(created)} created, {len(TOPICS) - len(created)} already there")


async def run_migrations(settings: InitSettings) -> None:
    for schema, package in SERVICE_SCHEMAS:
        applied = await migrate(settings.database_url, schema=schema, package=package)
        print(f"schema {schema}: {len(applied)} migration(s) applied {applied}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["all", "topics", "migrate"])
    args = parser.parse_args(argv)
    settings = InitSettings()
    if args.step in ("all", "migrate") and not settings.database_url:
        parser.error("the DATABASE_URL environment variable is required for migrations")
    try:
        if args.step in ("all", "topics"):
            asyncio.run(create_topics(settings))
        if args.step in ("all", "migrate"):
            asyncio.run(run_migrations(settings))
    except (
        OSError,
        TimeoutError,
        RuntimeError,
        ValueError,
        KafkaError,
        asyncpg.PostgresError,
    ) as exc:
        sys.exit(f"msp-init {args.step} failed: {exc}")
    print(f"msp-init {args.step}: done")


if __name__ == "__main__":
    main()
