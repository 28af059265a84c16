"""Every event type through the real broker: idempotent producer, consumer group,
commit, and a second consumer in the group resuming from the committed offsets."""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from msp_events import PAYLOADS, Envelope, decode_record, encode
from msp_events.samples import sample_events
from msp_events.topics import TOPICS, topic_for
from msp_plumbing.kafka_admin import ensure_topics

pytestmark = pytest.mark.integration


async def publish(bootstrap: str, namespace: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            record = encode(event)
            await producer.send_and_wait(
                topic_for(event.type).named(namespace),
                record.value,
                key=record.key,
                headers=record.headers,
            )
    finally:
        await producer.stop()


async def consume_group(
    bootstrap: str, namespace: str, group: str, expected: int
) -> list[tuple[Envelope, bytes, dict[str, bytes]]]:
    topics = sorted({topic_for(t).named(namespace) for t in PAYLOADS})
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[tuple[Envelope, bytes, dict[str, bytes]]] = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < expected:
            assert time.monotonic() < deadline, f"only {len(got)}/{expected} events arrived"
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    got.append((decode_record(r.key, r.value), r.key, dict(r.headers)))
        await consumer.commit()
        # nothing beyond what was produced
        extra = await consumer.getmany(timeout_ms=500)
        assert not any(extra.values())
    finally:
        await consumer.stop()
    return got


async def test_every_event_type_round_trips_through_kafka(
    kafka_bootstrap: str, namespace: str
) -> None:
    samples = sample_events()
    assert {e.type for e in samples} == set(PAYLOADS)
    await ensure_topics(kafka_bootstrap, [t for t in TOPICS if not t.raw], namespace=namespace)
    group = f"{namespace}roundtrip"

    await publish(kafka_bootstrap, namespace, samples)
    first = await consume_group(kafka_bootstrap, namespace, group, len(samples))
    by_id = {e.id: e for e in samples}
    assert len(first) == len(samples)
    for event, key, headers in first:
        assert event == by_id[event.id], event.type
        assert type(event) is type(by_id[event.id])
        assert key == event.customer_id.encode()
        assert headers["content-type"].startswith(b"application/cloudevents+json")

    # A new member of the same group resumes from the committed offsets: it sees the
    # second publication only, not the first again.
    await publish(kafka_bootstrap, namespace, samples)
    second = await consume_group(kafka_bootstrap, namespace, group, len(samples))
    assert sorted(e.id for e, _, _ in second) == sorted(by_id)
