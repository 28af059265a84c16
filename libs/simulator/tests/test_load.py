"""The benchmark-scale events come from the simulated world and are deterministic."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from msp_events.serde import decode, encode_value
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import AlertFiring, AlertResolved
from msp_events.types.tickets import TicketCreated
from msp_simulator.load import (
    contract_snapshots,
    customer_ids,
    heartbeats,
    monitored_customers,
    open_tickets,
    site_storms,
    sla_policy,
    storm_site,
    time_entries,
    world_contracts,
)
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.world import build_world


def test_heartbeats_cover_the_worlds_devices_deterministically() -> None:
    beats = heartbeats(n=1000, run="r1")
    assert [e.id for e in beats] == [e.id for e in heartbeats(n=1000, run="r1")]
    assert not {e.id for e in beats} & {e.id for e in heartbeats(n=1000, run="r2")}
    world = build_world(seed=1, month=DEFAULT_MONTH, customers=30)
    devices = {d.device_id: c.customer_id for c in world.customers for d in c.devices}
    for e in beats:
        assert devices[e.data.device_id] == e.customer_id  # type: ignore[attr-defined]
    assert {e.customer_id for e in beats} == set(customer_ids())
    assert decode(encode_value(beats[0])) == beats[0]


def test_contracts_and_time_entries_at_scale() -> None:
    contracts = contract_snapshots(customers=40)
    assert [e.customer_id for e in contracts] == customer_ids(customers=40)
    versions = Counter(len(e.data.versions) for e in contracts)  # type: ignore[attr-defined]
    assert versions[2] >= 2 and versions[1] > versions[2]  # some amended mid-month
    assert all(isinstance(e.data, ContractSnapshot) for e in contracts)
    entries = time_entries(n=500, customers=40, run="b")
    assert [e.id for e in entries] == [e.id for e in time_entries(n=500, customers=40, run="b")]
    assert {e.customer_id for e in entries} == set(customer_ids(customers=40))
    assert all(e.time.year == 2026 and e.time.month == 3 for e in entries)


def test_site_storms_are_deterministic_and_land_on_one_site() -> None:
    customers = monitored_customers(customers=4)
    assert len(customers) == 4 and all(c.tier != "on_demand" for c in customers)
    world = build_world(seed=1, month=DEFAULT_MONTH, customers=10)
    assert customers == [c for c in world.customers if c.tier != "on_demand"][:4]
    events = site_storms(customers=customers, storm=30, singles=4, run="s")
    again = site_storms(customers=customers, storm=30, singles=4, run="s")
    assert [encode_value(e) for e in events] == [encode_value(e) for e in again]
    assert len({e.id for e in events}) == len(events) == 4 * (30 + 30 + 2 * 4 + 30)
    for c in customers:
        mine = [e for e in events if e.customer_id == c.customer_id]
        times = [e.time for e in mine]
        assert times == sorted(times)  # event-time order within the customer
        offline = [e.data for e in mine if isinstance(e.data, AlertFiring)]
        storm = [a for a in offline if a.check_kind == "device_offline"]
        biggest = max(c.sites, key=lambda s: len(s.devices)).site_id
        assert {a.site_id for a in storm} == {biggest}
        assert len({a.device_id for a in storm}) == 30  # grown past the site's own devices
        assert max(a.starts_at for a in storm) - min(a.starts_at for a in storm) < timedelta(
            minutes=3
        )
        site = next(s for s in c.sites if s.site_id == biggest)
        assert [a.device_id for a in storm[: len(site.devices)]] == [
            d.device_id for d in site.devices
        ]  # the world's devices first, then more of the same
        own = {d.device_id for d in c.devices}
        singles = [a for a in offline if a.check_kind != "device_offline"]
        assert len(singles) == 4 and all(a.device_id in own for a in singles)
        gaps = [b.starts_at - a.starts_at for a, b in pairwise(singles)]
        assert all(g > timedelta(minutes=5) for g in gaps)  # beyond the correlation window
        back = [e.data for e in mine if isinstance(e.data, AlertResolved)]
        assert {a.source_fingerprint for a in back} == {a.source_fingerprint for a in storm}
    contracts = world_contracts(customers)
    assert [e.customer_id for e in contracts] == [c.customer_id for c in customers]
    assert all(e.data.versions[0].monitoring.enabled for e in contracts)  # type: ignore[attr-defined]


def test_small_storms_use_the_sites_own_devices() -> None:
    c = monitored_customers(customers=1)[0]
    site_id, devices = storm_site(c, size=3)
    site = next(s for s in c.sites if s.site_id == site_id)
    assert devices == list(site.devices[:3])


def test_open_tickets_spread_their_deadlines() -> None:
    customers = build_world(seed=1, month=DEFAULT_MONTH, customers=6).customers
    due = datetime(2026, 11, 1, 12, tzinfo=UTC)
    tickets = open_tickets(
        customers=customers, n=600, first_due=due, spread_s=10, response_minutes=60, run="L"
    )
    again = open_tickets(
        customers=customers, n=600, first_due=due, spread_s=10, response_minutes=60, run="L"
    )
    assert [encode_value(e) for e in tickets] == [encode_value(e) for e in again]
    other = open_tickets(
        customers=customers, n=600, first_due=due, spread_s=10, response_minutes=60, run="T"
    )
    assert not {e.id for e in tickets} & {e.id for e in other}
    assert not {e.data.ticket_id for e in tickets} & {e.data.ticket_id for e in other}  # type: ignore[attr-defined]
    created = [e.data for e in tickets]
    assert all(isinstance(t, TicketCreated) and t.priority == "P3" for t in created)
    dues = [t.opened_at + timedelta(minutes=60) for t in created]  # type: ignore[attr-defined]
    assert min(dues) == due and max(dues) < due + timedelta(seconds=10)
    assert dues == sorted(dues)
    assert Counter(e.customer_id for e in tickets) == {c.customer_id: 100 for c in customers}
    devices = {d.device_id: c.customer_id for c in customers for d in c.devices}
    assert all(devices[t.device_id] == e.customer_id for e, t in zip(tickets, created, strict=True))  # type: ignore[attr-defined]
    assert decode(encode_value(tickets[0])) == tickets[0]


def test_sla_contracts_carry_the_benchmark_policy() -> None:
    customers = build_world(seed=1, month=DEFAULT_MONTH, customers=5).customers
    policy = sla_policy(priority="P3", response_minutes=60, resolution_minutes=1440)
    contracts = world_contracts(customers, sla=policy)
    for e, c in zip(contracts, customers, strict=True):
        (version,) = e.data.versions  # type: ignore[attr-defined]
        assert version.sla == policy and version.timezone == c.timezone
        assert version.sla.warning_thresholds_percent == []
        assert [t.coverage for t in version.sla.targets] == ["24x7"]
    assert world_contracts(customers)[0].data.versions[0].sla != policy  # type: ignore[attr-defined]
