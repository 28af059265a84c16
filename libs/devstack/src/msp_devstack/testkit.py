"""Helpers for tests that talk to the real broker: produce events, read a topic to its
end, and wait on a condition with a deadline (never sleep-and-hope)."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from msp_events import Envelope, encode

T = TypeVar("T")


def _timeout_message(message: str | Callable[[], str], timeout: float, last: object) -> str:
    text = message() if callable(message) else message
    return f"timed out after {timeout:g} s waiting for {text or 'condition'} (last: {last!r})"


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> T:
    """Call `predicate` until it returns something truthy (returned) or `timeout` s pass
    (AssertionError naming `message` and the last value). An AssertionError raised by
    the predicate counts as "not yet", so plain asserts work as predicates."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except AssertionError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(message, timeout, last))
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is the point: a clear failure
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> T:
    """`wait_for` for async code: `predicate` may return a value or an awaitable."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            outcome = predicate()
            value = cast(T, await outcome if inspect.isawaitable(outcome) else outcome)
        except AssertionError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(message, timeout, last))
        await asyncio.sleep(interval)


async def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[Envelope] = (),
    *,
    raw: Sequence[tuple[bytes | None, bytes]] = (),
) -> None:
    """Publish `raw` (key, value) records, then `events`, with an idempotent producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in raw:
            await producer.send_and_wait(topic, value, key=key)
        for event in events:
            record = encode(event)
            await producer.send_and_wait(topic, record.value, key=record.key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, within: float = 20) -> list[Any]:
    """Every record currently on `topic` (all partitions, no consumer group), in
    partition then offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + within
        while not parts:
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} has no partitions")
            # aiokafka's consumer only tracks metadata of topics it was told about
            consumer._client.add_topic(topic)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        tps = sorted((TopicPartition(topic, p) for p in parts), key=lambda tp: tp.partition)
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        # seek_to_beginning() after assign() left aiokafka 0.14 fetching nothing here
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        records: list[Any] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {within}s")
            batch = await consumer.getmany(timeout_ms=200)
            for tp, recs in batch.items():
                records.extend(r for r in recs if r.offset < end[tp])
                if recs and recs[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        await consumer.stop()


def service_env(
    *,
    kafka: str,
    database_url: str,
    schema: str,
    namespace: str,
    crash: str | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment for running a service (or worker) as a subprocess in a test: this
    process's environment without any inherited MSP_CRASH_POINT, pointed at the test's
    broker, database, schema and topic namespace, on a free HTTP port, plus `settings`
    (`MSP_*` names). `crash` arms a crash point (`name[:N]`, see msp_plumbing.crashpoints)."""
    from msp_devstack.processes import free_port

    env = {k: v for k, v in os.environ.items() if k != "MSP_CRASH_POINT"}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=database_url,
        MSP_DB_SCHEMA=schema,
        MSP_TOPIC_NAMESPACE=namespace,
        MSP_HTTP_PORT=str(free_port()),
    )
    env.update(settings)
    if crash:
        env["MSP_CRASH_POINT"] = crash
    return env
