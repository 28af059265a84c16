"""Shared helpers of the ingest tests (imported by conftest and the test modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from ingest.consumers import RAW_TOPICS
from ingest.runtime import IngestRuntime
from ingest.settings import IngestSettings
from msp_access.apikeys import create_key
from msp_access.labels import LabelNames
from msp_devstack.access import access_schema
from msp_devstack.testkit import read_topic
from msp_events.topics import CHANGE_ORDERS, CONTRACTS, DEAD_LETTER, MONITORING, TICKETS

PEPPER = "test-pepper"
TOPICS = (MONITORING, TICKETS, CONTRACTS, CHANGE_ORDERS, DEAD_LETTER, *RAW_TOPICS)


def make_settings(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str, **overrides: Any
) -> IngestSettings:
    values: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "db_schema": schema,
        "topic_namespace": namespace,
        "api_key_pepper": PEPPER,
        "auth_cache_ttl_s": 0,
        "db_pool_max": 10,
        "consumer_batch_size": 50,
    }
    values.update(overrides)
    return IngestSettings(**values)


@dataclass
class Ingest:
    client: httpx.AsyncClient
    runtime: IngestRuntime
    db: asyncpg.Connection
    bootstrap: str
    namespace: str
    keys: dict[str, str] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        return f"{self.namespace}{name}"

    @property
    def access_schema(self) -> str:
        return access_schema(self.namespace)

    async def key(
        self,
        *customers: str,
        source: str = "tests",
        labels: LabelNames | None = None,
        roles: tuple[str, ...] = ("publisher",),
    ) -> str:
        _, secret = await create_key(
            self.db,
            schema=self.access_schema,
            pepper=PEPPER,
            source=source,
            customer_ids=list(customers),
            labels=labels,
            roles=roles,
        )
        return secret

    async def read(self, name: str) -> list[Any]:
        return await read_topic(self.bootstrap, self.topic(name))
