"""Reading whole topics without a consumer group (tail, export, dlq) and producing
records byte for byte (dlq replay)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError


class TopicMissing(LookupError):
    pass


async def _partitions(consumer: AIOKafkaConsumer, topic: str, within: float) -> list[int]:
    deadline = time.monotonic() + within
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() > deadline:
            raise TopicMissing(f"topic {topic!r} does not exist on the broker")
        # aiokafka only tracks metadata of topics it was told about
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()


async def records(
    bootstrap: str,
    topic: str,
    *,
    last: int | None = None,
    follow: bool = False,
    within: float = 10.0,
    on_follow: Callable[[], None] | None = None,
) -> AsyncIterator[Any]:
    """Records of `topic` in partition order up to the current end (`last` = only the
    last N per partition; None = from the beginning), then, with `follow`, new records
    as they arrive until cancelled (`on_follow` is called once positioned for them)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        raise TopicMissing(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
    try:
        tps = [TopicPartition(topic, p) for p in await _partitions(consumer, topic, within)]
        consumer.assign(tps)
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, first[tp] if last is None else max(first[tp], end[tp] - last))
        # read each partition to its current end, in partition order (stable output)
        for tp in tps:
            position = await consumer.position(tp)
            while position < end[tp]:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, []):
                    if record.offset < end[tp]:
                        yield record
                    position = record.offset + 1
                if not batch:  # transaction markers / compacted gaps move the position
                    position = await consumer.position(tp)
        if follow:
            for tp in tps:
                consumer.seek(tp, end[tp])
            if on_follow is not None:
                on_follow()
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for tp in sorted(batch, key=lambda t: t.partition):
                    for record in batch[tp]:
                        yield record
    finally:
        await consumer.stop()


async def produce(
    bootstrap: str,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=list(headers))
    finally:
        await producer.stop()
