"""The Faust tables: changelog-backed, in-memory, keyed by customer id (bytes).

A changelog record goes to the partition Kafka's default partitioner (murmur2) picks
for the customer key: the same partition as the customer's monitoring and contract
records (co-partitioned), whichever event, batch or timer wrote it. Faust's own choice
(the current event's partition) does not fit batches spanning partitions, nor timers."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.tables.table import Table

from msp_events.topics import PARTITIONS
from msp_plumbing.outbox import partition_for


class CustomerTable(Table[bytes, Any]):
    """A table whose writes can be awaited until Kafka acknowledged them.

    Faust flushes its producer buffer before committing offsets, but that flush gives
    up after 0.1 s without a send (faust/transport/producer.py `flush_atmost`), so on a
    loaded machine offsets can be committed ahead of the changelog: a crash then loses
    state. The worker therefore awaits `durable()` before the batch is acked."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._pending: list[asyncio.Future[Any]] = []

    def partition_for_key(self, key: Any) -> int:
        return partition_for(bytes(key), PARTITIONS)

    def on_key_set(self, key: Any, value: Any) -> None:
        fut = self.send_changelog(self.partition_for_key(key), key, value)
        self._pending.append(fut)
        self._sensor_on_set(self, key, value)

    async def durable(self) -> None:
        """Wait until every changelog record written so far is acknowledged."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


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
