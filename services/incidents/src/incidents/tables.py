"""The Faust tables: changelog-backed, in-memory, keyed by customer id (bytes).

A changelog record goes to the partition Kafka's default partitioner (murmur2) picks
for the customer key: the same partition as the customer's monitoring and contract
records (co-partitioned), whichever event, batch or timer wrote it. Faust's own choice
(the current event's partition) does not fit batches spanning partitions, nor timers."""

from __future__ import annotations

from typing import Any

import faust
from faust.tables.table import Table

from msp_events.topics import PARTITIONS
from msp_plumbing.outbox import partition_for


class CustomerTable(Table[bytes, Any]):
    def partition_for_key(self, key: Any) -> int:
        return partition_for(bytes(key), PARTITIONS)


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
