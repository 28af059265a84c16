"""The Faust tables: changelog-backed, in-memory, keyed by customer id (bytes).

`use_partitioner=True` makes the changelog record go to the partition Kafka's default
partitioner picks for the customer key: the same partition as the customer's
monitoring and contract records (co-partitioned), whichever event or timer wrote it."""

from __future__ import annotations

from typing import Any

import faust

from msp_events.topics import PARTITIONS


def triage_table(app: faust.App) -> Any:
    """Per customer: alert state, open incidents, windows, heartbeats (state.py)."""
    return app.Table(
        "triage",
        partitions=PARTITIONS,
        key_type=bytes,  # raw bytes: the same partition as the customer's records
        use_partitioner=True,
    )


def contracts_table(app: faust.App) -> Any:
    """Per customer: the latest contract snapshot (event JSON) from msp.contracts.v1."""
    return app.Table(
        "contracts",
        partitions=PARTITIONS,
        key_type=bytes,  # raw bytes: the same partition as the customer's records
        use_partitioner=True,
    )
