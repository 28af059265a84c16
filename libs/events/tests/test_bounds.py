"""The bounds of `msp_events.bounds`: the edge window ingest applies to an event's
`time` (`EventTimeWindow`), and the input-driven lists' maxItems."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events import EventValidationError, parse_event
from msp_events.bounds import EARLIEST, LATEST, EventTimeWindow
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj

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


# -- input-driven lists carry at most their documented maxItems -------------------------


SAMPLES = {e.type: to_json_obj(e) for e in sample_events()}


def _with(event_type: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(SAMPLES[event_type])
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("event_type", "path", "limit", "item"),
    [
        ("msp.monitoring.alert_firing.v1", ("data", "labels"), 256, None),
        ("msp.change_order.approved.v1", ("data", "ticket_ids"), 1000, "T-{}"),
        ("msp.change_order.approved.v1", ("data", "work_categories"), 100, "c{}"),
    ],
)
def test_a_list_over_its_bound_is_refused_naming_it(
    event_type: str, path: tuple[str, ...], limit: int, item: str | None
) -> None:
    def value(n: int) -> Any:
        if item is None:
            return {f"k{i}": "v" for i in range(n)}
        return [item.format(i) for i in range(n)]

    parse_event(_with(event_type, path, value(limit)))  # at the bound: accepted
    with pytest.raises(EventValidationError) as refused:
        parse_event(_with(event_type, path, value(limit + 1)))
    assert [e.pointer for e in refused.value.errors] == ["/" + "/".join(path)]


def test_a_contract_history_over_a_thousand_versions_is_refused() -> None:
    obj = copy.deepcopy(SAMPLES["msp.contract.snapshot.v1"])
    versions = obj["data"]["versions"]
    obj["data"]["versions"] = [versions[0]] * 1001
    with pytest.raises(EventValidationError) as refused:
        parse_event(obj)
    assert "/data/versions" in [e.pointer for e in refused.value.errors]
