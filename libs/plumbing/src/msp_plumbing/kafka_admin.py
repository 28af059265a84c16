"""Topic administration: create the registry's topics idempotently, wait for a broker.

`ensure_topics` is what `python -m msp_devstack run`, the test fixtures and deployment
jobs call; the topic registry (`msp_events.topics.TOPICS`) says what to create.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from msp_events.topics import Topic

log = logging.getLogger("msp_plumbing.kafka_admin")

MAX_REPLICATION_FACTOR = 3


class TopicMismatchError(RuntimeError):
    """An existing topic disagrees with the registry in a way we must not paper over."""


class TopicCreationError(RuntimeError):
    """The broker refused to create a topic."""


def _bootstrap_hosts(bootstrap_servers: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        hosts.append((host.strip("[]") or "localhost", int(port or 9092)))
    return hosts


async def _any_host_accepts(bootstrap_servers: str, connect_timeout: float) -> bool:
    for host, port in _bootstrap_hosts(bootstrap_servers):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return True
    return False


async def wait_for_broker(
    bootstrap_servers: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - retries until then, then a clear error
) -> dict[str, Any]:
    """Wait until the cluster answers a metadata request; returns the cluster description
    (`brokers`, `controller_id`, `cluster_id`). Raises TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"Kafka at {bootstrap_servers} did not answer a metadata request within "
                f"{timeout:.0f} s (last error: {last_error!r})"
            )
        # A plain TCP check first: aiokafka logs an ERROR for every refused bootstrap.
        if await _any_host_accepts(bootstrap_servers, min(1.0, remaining)):
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap_servers,
                client_id="msp-wait-for-broker",
                request_timeout_ms=max(1000, int(min(10.0, remaining) * 1000)),
            )
            try:
                await admin.start()
                cluster: dict[str, Any] = await admin.describe_cluster()
                if cluster["brokers"]:
                    return cluster
                last_error = RuntimeError("metadata lists no brokers yet")
            except (KafkaError, OSError) as exc:
                last_error = exc
            finally:
                await admin.close()
        else:
            last_error = ConnectionRefusedError(f"nothing listens on {bootstrap_servers}")
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[Topic],
    *,
    namespace: str = "",
    replication_factor: int | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - also the broker-side CreateTopics timeout
) -> list[str]:
    """Create each topic (named `topic.named(namespace)`) with the registry's partition
    count and config; topics that already exist are left alone, but one whose partition
    count differs from the registry raises `TopicMismatchError` (co-partitioning by
    customer depends on it). Replication factor: `replication_factor`, else
    min(3, number of brokers). Returns the names created now, once they have leaders."""
    wanted = {topic.named(namespace): topic for topic in topics}
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="msp-ensure-topics",
        request_timeout_ms=int(timeout * 1000),
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        factor = replication_factor or min(MAX_REPLICATION_FACTOR, len(cluster["brokers"]))
        existing = set(await admin.list_topics()) & set(wanted)
        created: list[str] = []
        to_create = [
            NewTopic(name, topic.partitions, factor, topic_configs=topic.kafka_config())
            for name, topic in wanted.items()
            if name not in existing
        ]
        if to_create:
            response = await admin.create_topics(to_create, timeout_ms=int(timeout * 1000))
            for name, code, *rest in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif code == TopicAlreadyExistsError.errno:
                    existing.add(name)  # another process created it meanwhile
                else:
                    detail = rest[0] if rest and rest[0] else for_code(code).__name__
                    raise TopicCreationError(f"cannot create topic {name!r}: {detail}")
        deadline = time.monotonic() + timeout
        if existing:
            await _check_partitions(admin, {name: wanted[name] for name in existing}, deadline)
        if created:
            await _describe_when_led(admin, created, deadline)
            log.info(
                "created %d topic(s) (replication factor %d): %s",
                len(created),
                factor,
                ", ".join(created),
            )
        return created
    finally:
        await admin.close()


async def _check_partitions(
    admin: AIOKafkaAdminClient, topics: dict[str, Topic], deadline: float
) -> None:
    # A topic another client has just created may not have its partitions in the
    # metadata yet: wait until it does, then compare.
    for description in await _describe_when_led(admin, list(topics), deadline):
        name = description["topic"]
        actual = len(description["partitions"])
        expected = topics[name].partitions
        if actual != expected:
            raise TopicMismatchError(
                f"topic {name!r} exists with {actual} partition(s) but the registry says "
                f"{expected}; every co-partitioned topic must have the same count. Recreate "
                f"the topic (dev) or plan a partition migration (production)."
            )


async def _describe_when_led(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float
) -> list[Any]:
    """Topic metadata, once every partition of every named topic has a leader."""
    while True:
        descriptions: list[Any] = await admin.describe_topics(names)
        pending = [
            d["topic"]
            for d in descriptions
            if d["error_code"] != 0
            or not d["partitions"]
            or any(p["leader"] < 0 for p in d["partitions"])
        ]
        if not pending:
            return descriptions
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics still have no partition leaders: {pending}")
        await asyncio.sleep(0.1)
