"""ensure_topics against the session broker, under a per-test namespace."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from msp_events.topics import CONTRACTS, TOPICS
from msp_plumbing.kafka_admin import TopicMismatchError, ensure_topics

pytestmark = pytest.mark.integration


async def _topic_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _type, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def test_ensure_topics_creates_the_registry_idempotently(
    kafka_bootstrap: str, namespace: str
) -> None:
    created = await ensure_topics(kafka_bootstrap, TOPICS, namespace=namespace)
    expected = {topic.named(namespace): topic for topic in TOPICS}
    assert sorted(created) == sorted(expected)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        descriptions = await admin.describe_topics(list(expected))
        partitions = {d["topic"]: len(d["partitions"]) for d in descriptions}
        assert partitions == {name: topic.partitions for name, topic in expected.items()}
        configs = await _topic_configs(admin, list(expected))
    finally:
        await admin.close()
    for name, topic in expected.items():
        assert configs[name]["cleanup.policy"] == topic.cleanup_policy
        assert configs[name]["retention.ms"] == str(topic.retention_ms)
    assert configs[CONTRACTS.named(namespace)]["cleanup.policy"] == "compact"
    assert configs[CONTRACTS.named(namespace)]["min.compaction.lag.ms"] == str(24 * 3600 * 1000)

    assert await ensure_topics(kafka_bootstrap, TOPICS, namespace=namespace) == []


async def test_ensure_topics_rejects_an_existing_topic_with_other_partitions(
    kafka_bootstrap: str, namespace: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(CONTRACTS.named(namespace), 2, 1)])
    finally:
        await admin.close()
    with pytest.raises(TopicMismatchError, match=r"2 partition\(s\) but the registry says 6"):
        await ensure_topics(kafka_bootstrap, [CONTRACTS], namespace=namespace)
