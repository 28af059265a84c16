"""The simulated month as a pure function: deterministic per seed, every storyline
present, times inside the month, every event valid for msp_events, webhook bodies
that ingest's Alertmanager adapter reads back into the same alerts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msp_events.serde import decode, encode_value, to_json_obj
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import AlertFiring, AlertResolved
from msp_simulator.cast import STORIES
from msp_simulator.player import days_of, requests_of
from msp_simulator.scenario import DEFAULT_MONTH, Month, generate


@cache
def month_of(seed: int, first: date = DEFAULT_MONTH, customers: int = 30) -> Month:
    return generate(seed=seed, month=first, customers=customers)


def fingerprint(month: Month) -> str:
    """Everything a post carries, as one string (ids, times, bodies)."""
    return json.dumps(
        [(p.at.isoformat(), p.story, p.customer_id, p.channel, p.body()) for p in month.posts],
        sort_keys=True,
    )


def test_default_month_has_the_promised_size() -> None:
    m = month_of(1)
    assert len(m.world.customers) == 30
    assert {c.tier for c in m.world.customers} == {"on_demand", "managed", "managed_vip"}
    assert 250 <= sum(len(c.devices) for c in m.world.customers) <= 350
    assert len({c.timezone for c in m.world.customers}) >= 5
    assert {"America/New_York", "Europe/London"} <= {c.timezone for c in m.world.customers}
    assert m.event_count > 1000


def test_same_seed_same_month_different_seed_different_month() -> None:
    assert fingerprint(generate(seed=7)) == fingerprint(month_of(7))
    assert fingerprint(month_of(7)) != fingerprint(month_of(8))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    customers=st.integers(min_value=5, max_value=12),
    first=st.sampled_from(
        [date(2026, 2, 1), date(2026, 3, 1), date(2026, 10, 1), date(2027, 1, 1)]
    ),
)
def test_properties_of_any_month(seed: int, customers: int, first: date) -> None:
    m = generate(seed=seed, month=first, customers=customers)
    assert fingerprint(m) == fingerprint(generate(seed=seed, month=first, customers=customers))
    # every storyline is cast and posts something
    assert set(m.cast) == set(STORIES)
    assert {p.story for p in m.posts} == set(STORIES)
    # ordered by event time
    times = [p.at for p in m.posts]
    assert times == sorted(times)
    # inside the month in the customer's own time zone (contracts go out before it)
    zones = {c.customer_id: ZoneInfo(c.timezone) for c in m.world.customers}
    for p in m.posts:
        for e in p.events:
            local = e.time.astimezone(zones[p.customer_id]).date()
            if p.story == "contracts":
                assert local < first
            else:
                assert (local.year, local.month) == (first.year, first.month), (p.story, e)
    # ids unique: a replay is recognisable as one
    ids = [e.id for p in m.posts for e in p.events]
    assert len(ids) == len(set(ids))


def test_every_event_validates_and_round_trips() -> None:
    for post in month_of(1).posts:
        for event in post.events:
            again = decode(encode_value(event))
            assert again == event
            assert event.customer_id == post.customer_id
            assert event.time.tzinfo is not None


def test_alertmanager_bodies_read_back_as_the_alerts_meant() -> None:
    from ingest.adapters.alertmanager import parse  # the real adapter, as ingest runs it
    from msp_access.labels import LabelNames

    posts = [p for p in month_of(1).posts if p.channel == "alertmanager"]
    assert posts
    for post in posts:
        _, events = parse(post.body(), labels=LabelNames(), default_customer=None)
        assert [e.customer_id for e in events] == [post.customer_id] * len(post.events)
        for got, meant in zip(events, post.events, strict=True):
            assert isinstance(got.data, (AlertFiring, AlertResolved))
            assert got.data.source_fingerprint == meant.data.source_fingerprint  # type: ignore[attr-defined]
            assert got.type == meant.type
            assert got.data.device_id == meant.data.device_id  # type: ignore[attr-defined]
            assert got.data.check_kind == meant.data.check_kind  # type: ignore[attr-defined]


def test_storylines_are_where_the_cast_says() -> None:
    m = month_of(1)
    storm = m.cast["alert_storm"]
    storm_alerts = [
        e for p in m.posts if p.story == "alert_storm" for e in p.events
        if isinstance(e.data, AlertFiring)
    ]  # fmt: skip
    assert {e.data.site_id for e in storm_alerts} == {storm["site_id"]}  # type: ignore[attr-defined]
    assert len({e.data.device_id for e in storm_alerts}) == int(storm["devices"]) >= 10  # type: ignore[attr-defined]
    # the contract amendment: a second version, effective mid-month
    amended = [p for p in m.posts if p.story == "contract_amendment"]
    data = amended[0].events[0].data
    assert isinstance(data, ContractSnapshot) and [v.version for v in data.versions] == [1, 2]
    assert 10 <= data.versions[1].effective_from.day <= 20
    # waiting on the customer, the RMA, the project and scope creep tickets exist
    types = Counter((p.story, e.type.rsplit(".", 2)[-2]) for p in m.posts for e in p.events)
    assert types[("waiting_on_customer", "status_changed")] == 2
    assert types[("vendor_rma", "time_logged")] == 2
    assert types[("project_change_order", "approved")] == 1
    assert types[("scope_creep", "time_logged")] == 2
    tiers = {c.customer_id: c.tier for c in m.world.customers}
    assert tiers[m.cast["after_hours"]["customer_id"]] == "on_demand"
    assert tiers[storm["customer_id"]] == "managed_vip"


def test_dst_change_inside_the_default_month() -> None:
    zones = {c.timezone for c in month_of(1).world.customers}
    first, last = datetime(2026, 3, 1), datetime(2026, 3, 31)
    changes = [z for z in zones if ZoneInfo(z).utcoffset(first) != ZoneInfo(z).utcoffset(last)]
    assert changes


def test_playing_order_keeps_event_time_order_and_batches() -> None:
    m = month_of(1)
    days = list(days_of(m.posts))
    assert [p for _, group in days for p in group] == list(m.posts)
    for _, group in days:
        flat = [p for _, req in requests_of(group) for p in req]
        assert flat == group
        for channel, req in requests_of(group):
            assert channel == "alertmanager" or sum(len(p.events) for p in req) <= 500
            assert channel == "events" or len(req) == 1
    body = [item for p in m.posts[:3] for item in p.body()]
    assert body == [to_json_obj(e) for p in m.posts[:3] for e in p.events]


def test_too_few_customers_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="customers"):
        generate(seed=1, customers=3)
