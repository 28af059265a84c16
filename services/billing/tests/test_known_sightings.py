"""Skipping sightings the `assets_seen` rows already hold (`assets.KnownSightings`):
whatever the batches, their order, the ones rolled back and another instance writing
the same rows, the rows end up exactly as when every sighting is written."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.assets import Key, KnownSightings
from billing.counts import Sighting

DAY = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
ASSETS = ["dev-1", "dev-2", "dev-3"]


def upsert(rows: dict[Key, Sighting], batch: dict[Key, Sighting]) -> None:
    """What `assets.save_sightings`' statement does to the table."""
    for k, s in batch.items():
        old = rows.get(k)
        rows[k] = (
            s
            if old is None
            else Sighting(
                s.kind,
                s.asset_id,
                min(old.first_at, s.first_at),
                max(old.last_at, s.last_at),
                old.sources | s.sources,
            )
        )


@st.composite
def batches(draw: st.DrawFn) -> dict[Key, Sighting]:
    found: dict[Key, Sighting] = {}
    for asset in draw(st.lists(st.sampled_from(ASSETS), max_size=3, unique=True)):
        a, b = sorted(draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=2, max_size=2)))
        sources = draw(st.sets(st.sampled_from(["inventory", "monitoring"]), min_size=1))
        key = ("cust-1", DAY.date(), "device", asset)
        first, last = DAY + dt.timedelta(minutes=a), DAY + dt.timedelta(minutes=b)
        found[key] = Sighting("device", asset, first, last, frozenset(sources))
    return found


# (batch, committed?, written by this instance?)
steps = st.lists(st.tuples(batches(), st.booleans(), st.booleans()), max_size=12)


@settings(max_examples=300, deadline=None)
@given(steps=steps, limit=st.sampled_from([1, 2, 1000]))
def test_skipped_sightings_leave_the_rows_as_writing_all_of_them(
    steps: list[tuple[dict[Key, Sighting], bool, bool]], limit: int
) -> None:
    every: dict[Key, Sighting] = {}
    skipping: dict[Key, Sighting] = {}
    known = KnownSightings(limit=limit)
    for batch, committed, ours in steps:
        if not committed:  # rolled back: nothing written, nothing learned
            if ours:
                known.unknown(batch)
            continue
        upsert(every, batch)
        if ours:
            written = known.unknown(batch)
            upsert(skipping, written)
            known.learn(written)
        else:  # another instance's write, unknown to this one
            upsert(skipping, batch)
    assert skipping == every


def test_a_sighting_inside_a_committed_row_is_not_written_again() -> None:
    key = ("cust-1", DAY.date(), "device", "dev-1")
    wide = Sighting("device", "dev-1", DAY, DAY + dt.timedelta(hours=9), frozenset({"monitoring"}))
    inside = Sighting(
        "device",
        "dev-1",
        DAY + dt.timedelta(hours=2),
        DAY + dt.timedelta(hours=3),
        frozenset({"monitoring"}),
    )
    later = Sighting(
        "device", "dev-1", DAY, DAY + dt.timedelta(hours=10), frozenset({"monitoring"})
    )
    known = KnownSightings()
    assert known.unknown({key: wide}) == {key: wide}  # nothing learned before a commit
    known.learn({key: wide})
    assert known.unknown({key: inside}) == {}
    assert known.unknown({key: later}) == {key: later}  # widens the row: written
    new_source = Sighting("device", "dev-1", DAY, DAY, frozenset({"inventory"}))
    assert known.unknown({key: new_source}) == {key: new_source}
