"""The session broker, and LocalKafka's failure report."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from msp_devstack.kafka import LocalKafka
from msp_devstack.processes import StartupError
from msp_devstack.testing import create_topics
from msp_events.topics import MONITORING
from msp_plumbing.kafka_admin import wait_for_broker

pytestmark = pytest.mark.integration


async def test_session_broker_answers_a_metadata_request(kafka_bootstrap: str) -> None:
    cluster = await wait_for_broker(kafka_bootstrap, timeout=30)
    assert len(cluster["brokers"]) >= 1
    assert cluster["controller_id"] >= 0


async def test_idempotent_producer_and_group_consumer_round_trip(
    kafka_bootstrap: str, namespace: str
) -> None:
    names = await create_topics(kafka_bootstrap, [MONITORING], namespace)
    topic = names[MONITORING.name]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"customer-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{namespace}roundtrip",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=20_000, max_records=1)
        records = [record for batch in batches.values() for record in batch]
        assert [(r.key, r.value) for r in records] == [(b"customer-1", b"hello")]
        await consumer.commit()
    finally:
        await consumer.stop()


def test_broker_that_dies_on_start_reports_its_log(tmp_path: Path) -> None:
    # A store formatted for another node id: the broker exits at once.
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "meta.properties").write_text(
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\n"
    )
    kafka = LocalKafka(tmp_path)
    with pytest.raises(StartupError, match=r"exited with code 1(.|\n)*Stored node id 7"):
        kafka.start()
    assert kafka.pid is None
