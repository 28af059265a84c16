"""Which records of a batch are triaged and which offsets committed (offsets.py): never
an offset past a record that was not triaged, a gap rewinds the partition to its first
missing offset, re-deliveries below the committed offset are skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from incidents.offsets import plan_batch


def test_a_contiguous_batch_is_taken_whole_and_committed_past_its_end() -> None:
    positions = [("m0", 4), ("m1", 0), ("m0", 5), ("m1", 1)]
    plan = plan_batch(positions=positions, expected={"m0": 4, "m1": 0})
    assert plan.take == [0, 1, 2, 3]
    assert plan.commit == {"m0": 6, "m1": 2}
    assert plan.rewind == {}


def test_records_dropped_before_the_batch_stop_the_commit_and_rewind_the_partition() -> None:
    # the crash report: 0-3 triaged (committed 4), 4-5 dropped by Faust, 6-9 arrive
    plan = plan_batch(positions=[("m0", o) for o in range(6, 10)], expected={"m0": 4})
    assert plan.take == []
    assert plan.commit == {}
    assert plan.rewind == {"m0": 4}


def test_a_gap_inside_a_batch_keeps_the_run_before_it_and_other_partitions() -> None:
    positions = [("m0", 4), ("m1", 7), ("m0", 6), ("m0", 5), ("m0", 9), ("m1", 8)]
    plan = plan_batch(positions=positions, expected={"m0": 4, "m1": 7})
    # m0: 4, 5, 6 in offset order in m0's slots; 9 waits for 7 and 8 to come again
    assert [positions[i] for i in plan.take] == [
        ("m0", 4),
        ("m1", 7),
        ("m0", 5),
        ("m0", 6),
        ("m1", 8),
    ]
    assert plan.commit == {"m0": 7, "m1": 9}
    assert plan.rewind == {"m0": 7}


def test_redelivered_and_foreign_records_are_skipped() -> None:
    positions = [("m0", 2), ("m0", 3), ("m0", 3), ("gone", 0), ("m0", 4)]
    plan = plan_batch(positions=positions, expected={"m0": 3})
    assert plan.take == [1, 4]
    assert plan.commit == {"m0": 5}
    assert plan.rewind == {}


partitions = st.sampled_from(["m0", "m1", "c0"])
batches = st.lists(st.tuples(partitions, st.integers(0, 30)), max_size=40)
starts = st.dictionaries(partitions, st.integers(0, 20))


@given(positions=batches, expected=starts)
def test_commit_never_passes_a_record_that_was_not_taken(
    positions: list[tuple[str, int]], expected: dict[str, int]
) -> None:
    plan = plan_batch(positions=positions, expected=expected)
    taken = [positions[i] for i in plan.take]
    assert len(set(plan.take)) == len(plan.take), "a record is triaged once per batch"
    for tp, start in expected.items():
        mine = [offset for p, offset in taken if p == tp]
        nxt = plan.commit.get(tp, start)
        # exactly the run [start, nxt), each once, in offset order
        assert mine == list(range(start, nxt))
        assert tp not in plan.commit or plan.commit[tp] > start
        beyond = any(p == tp and offset > nxt for p, offset in positions)
        assert plan.rewind.get(tp) == (nxt if beyond else None)
    assert all(p in expected for p, _ in taken), "only partitions we own"
    assert set(plan.commit) <= set(expected) and set(plan.rewind) <= set(expected)


@given(positions=batches, expected=starts)
def test_taking_a_batch_keeps_its_order_across_partitions(
    positions: list[tuple[str, int]], expected: dict[str, int]
) -> None:
    plan = plan_batch(positions=positions, expected=expected)
    slots = sorted(plan.take)
    partition_of_slot = [positions[i][0] for i in slots]
    assert [positions[i][0] for i in plan.take] == partition_of_slot
