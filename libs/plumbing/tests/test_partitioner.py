"""The relay picks partitions itself (so crash recovery knows where to look): it must
agree with Kafka's default partitioner, or co-partitioning by customer breaks."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from msp_events.topics import TICKETS
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.outbox import partition_for

pytestmark = pytest.mark.integration


async def test_partition_for_matches_default_partitioner(
    kafka_bootstrap: str, namespace: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TICKETS], namespace=namespace)
    topic = TICKETS.named(namespace)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(40):
            key = f"cust-{i}".encode()
            meta = await producer.send_and_wait(topic, b"{}", key=key)
            assert meta.partition == partition_for(key, TICKETS.partitions), key
    finally:
        await producer.stop()
