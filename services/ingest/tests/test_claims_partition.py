"""The partition the claims choose for a record is the one aiokafka's default
partitioner would (co-partitioning: a customer's events on one partition)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.claims import _partition


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(1, 64))
def test_partition_is_the_default_partitioners(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert _partition(key, partitions) == expected
    assert _partition(key, partitions) == expected  # cached hash, same answer
