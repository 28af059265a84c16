"""The Faust tables: changelog-backed, in-memory, keyed by customer id (bytes).

A changelog record goes to the partition Kafka's default partitioner (murmur2) picks
for the customer key: the same partition as the customer's monitoring and contract
records (co-partitioned), whichever event, batch or timer wrote it. Faust's own choice
(the current event's partition) does not fit batches spanning partitions, nor timers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import faust
from faust.tables.table import Table

from msp_events.topics import PARTITIONS
from msp_plumbing.outbox import partition_for


class CustomerTable(Table[bytes, Any]):
    """A table whose changelog writes are sent straight through the producer and can be
    awaited until Kafka acknowledged them.

    Faust's own path (`send_soon` into its producer buffer) is not safe to commit on:
    its pre-commit flush gives up after 0.1 s without a send (faust/transport/producer.py
    `flush_atmost`), so offsets can be committed ahead of the changelog. The worker
    awaits `durable()` before a batch's offsets are committed (agents.py)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._unsent: list[tuple[bytes, Any]] = []

    def partition_for_key(self, key: Any) -> int:
        return partition_for(bytes(key), PARTITIONS)

    def on_key_set(self, key: Any, value: Any) -> None:
        self._unsent.append((bytes(key), value))
        self._sensor_on_set(self, key, value)

    async def durable(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Send every change since the last call and wait for Kafka's acknowledgement."""
        unsent, self._unsent = self._unsent, []
        if not unsent:
            return
        latest = dict(unsent)  # several writes of one key in a batch: the last one wins
        producer = self.app.producer
        topic = self.changelog_topic.get_topic_name()
        pending = [
            await producer.send(
                topic, key, json.dumps(value).encode(), self.partition_for_key(key), None, None
            )
            for key, value in latest.items()
        ]
        await asyncio.wait_for(asyncio.gather(*pending), timeout)


def _table(app: faust.App, name: str, help: str) -> Any:
    table = CustomerTable(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=PARTITIONS,
        key_type=bytes,  # raw bytes, the customer id as in the record key
        help=help,
    )
    return app.tables.add(table)


def triage_table(app: faust.App) -> Any:
    return _table(app, "triage", "Per customer: alerts, open incidents, windows, heartbeats")


def contracts_table(app: faust.App) -> Any:
    return _table(app, "contracts", "Per customer: the latest contract snapshot (event JSON)")
