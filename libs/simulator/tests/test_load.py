"""The benchmark-scale events come from the simulated world and are deterministic."""

from __future__ import annotations

from collections import Counter

from msp_events.serde import decode, encode_value
from msp_events.types.contracts import ContractSnapshot
from msp_simulator.load import contract_snapshots, customer_ids, heartbeats, time_entries
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
