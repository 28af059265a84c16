"""Which records of a batch may be triaged, and which offsets committed, so that no
offset is ever committed past a record that was not triaged.

Faust's stream drops records silently, and acks them: the ones dequeued while flow
control is suspended for a rebalance, or fetched under an older consumer generation
(faust/streams.py, "Skipping message ... generation_id"), and its fetcher drops records
below its read offset (faust/transport/consumer.py, "DROPPED MESSAGE ROFF"). Committing
max(offset)+1 of each batch then jumped over them: lost alerts after a crash
(tests/e2e/README.md). So per partition we know the next offset we expect (the
committed one at assignment, then advanced over what was triaged), take only the
contiguous run from it, and rewind the partition to the first missing offset when a
later one shows up; the records after a gap come again, in order, after the seek."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True)
class BatchPlan(Generic[P]):
    take: list[int] = field(default_factory=list)
    """Indices into the batch to triage, in order (per partition in offset order)."""
    commit: dict[P, int] = field(default_factory=dict)
    """The next offset per partition that advanced: every offset below it is triaged."""
    rewind: dict[P, int] = field(default_factory=dict)
    """Partitions with a gap: the first missing offset, to seek back to."""


def plan_batch(*, positions: Sequence[tuple[P, int]], expected: Mapping[P, int]) -> BatchPlan[P]:
    """`positions` are the batch's (partition, offset) in arrival order; `expected` the
    next offset to triage per partition. Offsets below it were triaged already
    (re-deliveries after a seek or a rebalance) and are skipped, as is every record of
    a partition missing from `expected` (not ours: another member owns it now)."""
    first_index: dict[P, dict[int, int]] = {}
    for i, (tp, offset) in enumerate(positions):
        if tp in expected:
            first_index.setdefault(tp, {}).setdefault(offset, i)
    plan: BatchPlan[P] = BatchPlan()
    chosen: list[tuple[int, int]] = []  # (slot in the batch, index of the record)
    for tp, by_offset in first_index.items():
        start = nxt = expected[tp]
        run: list[int] = []
        while nxt in by_offset:
            run.append(by_offset[nxt])
            nxt += 1
        if nxt > start:
            plan.commit[tp] = nxt
        if any(offset > nxt for offset in by_offset):
            plan.rewind[tp] = nxt
        # Keep the batch's interleaving of partitions (customers) but put each
        # partition's records in offset order (a stale record may precede a re-fetched
        # earlier one).
        chosen.extend(zip(sorted(run), run, strict=True))
    plan.take.extend(index for _, index in sorted(chosen))
    return plan
