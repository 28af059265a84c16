"""The edge window ingest applies to an event's `time` (`bounds.EventTimeWindow`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events.bounds import EARLIEST, LATEST, EventTimeWindow

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)
instants = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=(LATEST - timedelta(microseconds=1)).replace(tzinfo=None),
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(time=instants, skew_s=st.integers(min_value=0, max_value=30 * 86400))
def test_the_window_accepts_exactly_not_before_up_to_now_plus_skew(
    time: datetime, skew_s: int
) -> None:
    window = EventTimeWindow(
        not_before=datetime(2020, 1, 1, tzinfo=UTC), max_future=timedelta(seconds=skew_s)
    )
    inside = datetime(2020, 1, 1, tzinfo=UTC) <= time <= NOW + timedelta(seconds=skew_s)
    assert (window.violation(time, now=NOW) is None) == inside


def test_a_replay_of_last_year_is_inside_and_next_week_is_not() -> None:
    window = EventTimeWindow()
    assert window.violation(NOW - timedelta(days=400), now=NOW) is None
    reason = window.violation(NOW + timedelta(days=7), now=NOW)
    assert reason is not None and "past the ingest's clock" in reason


def test_a_window_needs_an_aware_start_and_a_non_negative_skew() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        EventTimeWindow(not_before=datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="negative"):
        EventTimeWindow(max_future=timedelta(seconds=-1))
