"""Events at benchmark scale, drawn from the simulated MSP's world: the benchmarks use
the same customers, devices and event shapes the simulated month does, just many more
of one kind. Deterministic like the month: ids are uuid5 of (seed, run, n)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from msp_events.envelope import Envelope
from msp_events.serde import derive_event_id, make_event
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import Heartbeat
from msp_events.types.tickets import TimeLogged
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.world import amended, build_world

AGENT = "rmm-agent/5.9.1"


def customer_ids(*, customers: int = 30) -> list[str]:
    """The ids `heartbeats` posts for (an ingest key for the benchmark needs them all)."""
    return [f"cust-{n:03d}" for n in range(1, customers + 1)]


def heartbeats(
    *, n: int, run: str, seed: int = 1, customers: int = 30, start: datetime | None = None
) -> list[Envelope]:
    """`n` RMM agent check-ins, round-robin over the world's devices (so over every
    customer and site), 1 ms apart in event time from `start` (default: the simulated
    month's first Monday, 08:00 UTC). `run` keeps ids apart between runs."""
    world = build_world(seed=seed, month=DEFAULT_MONTH, customers=customers)
    devices = [(c.customer_id, d) for c in world.customers for d in c.devices]
    base = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    events = []
    for i in range(n):
        customer_id, device = devices[i % len(devices)]
        at = base + timedelta(milliseconds=i)
        events.append(
            make_event(
                Heartbeat(
                    device_id=device.device_id,
                    site_id=device.site_id,
                    agent=AGENT,
                    interval_seconds=300,
                    sent_at=at,
                ),
                customer_id=customer_id,
                source="/sim/rmm",
                time=at,
                subject=device.device_id,
                id=derive_event_id("msp-simulator", str(seed), "bench", run, str(i)),
            )
        )
    return events


WORK_CATEGORIES = ("help_desk", "patching", "installation", "backup", "upgrade", "monitoring")
"""Covered (help_desk, patching, backup, monitoring) and project (installation, upgrade)
categories of the world's contracts."""


def contract_snapshots(*, customers: int, seed: int = 1, amend_every: int = 10) -> list[Envelope]:
    """The world's contracts; every `amend_every`-th managed customer with a version 2
    effective 16 March (local midnight), so invoice runs prorate some flat fees."""
    world = build_world(seed=seed, month=DEFAULT_MONTH, customers=customers)
    events = []
    for n, c in enumerate(world.customers):
        versions = list(c.contract)
        if amend_every and n % amend_every == 0 and c.tier != "on_demand":
            versions.append(amended(versions[0], effective=c.local(date(2026, 3, 16), 0)))
        events.append(
            make_event(
                ContractSnapshot(contract_id=f"ctr-{c.customer_id}", versions=versions),
                customer_id=c.customer_id,
                source="/sim/crm",
                time=datetime(2026, 1, 1, tzinfo=UTC),
                id=derive_event_id("msp-simulator", str(seed), "bench-contract", c.customer_id),
            )
        )
    return events


def time_entries(*, n: int, customers: int, run: str, seed: int = 1) -> list[Envelope]:
    """`n` technicians' time entries in March 2026, round-robin over `customers`
    customers (ids as in the world), five tickets each, 10-119 minutes long, in covered
    and project categories (so some tickets grow past the project size threshold)."""
    ids = customer_ids(customers=customers)
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    events = []
    for i in range(n):
        customer_id = ids[i % customers]
        began = start + timedelta(minutes=(i * 37) % (27 * 24 * 60))
        data = TimeLogged(
            entry_id=f"{run}-TE-{i}",
            ticket_id=f"{customer_id}-T{(i // customers) % 5 + 1:03d}",
            technician_id=f"tech-{i % 7}",
            started_at=began,
            ended_at=began + timedelta(minutes=10 + i % 110),
            work_category=WORK_CATEGORIES[i % len(WORK_CATEGORIES)],
        )
        events.append(
            make_event(
                data,
                customer_id=customer_id,
                source="/sim/psa",
                time=data.ended_at,
                subject=data.ticket_id,
                id=derive_event_id("msp-simulator", str(seed), "bench", run, str(i)),
            )
        )
    return events
