"""Events at benchmark scale, drawn from the simulated MSP's world: the benchmarks use
the same customers, devices and event shapes the simulated month does, just many more
of one kind. Deterministic like the month: ids are uuid5 of (seed, run, n).

Used by bench/ingest.py (heartbeats), bench/billing.py (contracts, time entries),
bench/incidents.py (site storms on monitored customers) and bench/sla.py (tickets whose
deadlines fall when the benchmark needs them)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from msp_events.base import EventData, Priority
from msp_events.envelope import Envelope
from msp_events.serde import derive_event_id, make_event
from msp_events.types.contracts import ContractSnapshot, SlaPolicy, SlaTarget
from msp_events.types.monitoring import Heartbeat
from msp_events.types.tickets import TicketCreated, TimeLogged
from msp_simulator.outages import firing, resolved
from msp_simulator.scenario import DEFAULT_MONTH
from msp_simulator.workload import NOISE, PROBLEMS, SOURCES
from msp_simulator.world import DEVICE_KINDS, Customer, Device, amended, build_world

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


# --- incidents: site storms on the world's monitored customers ---------------------

STORM_DAY = date(2026, 3, 10)
"""The simulated month's storm day (a Tuesday, outside the contracts' Sunday window)."""


def monitored_customers(*, customers: int, seed: int = 1) -> list[Customer]:
    """The world's first `customers` customers with monitoring (managed and VIP; the
    on-demand ones would only be recorded "not monitored", which is not triage). The
    world is built in customer order, so these are the month's own customers."""
    world = build_world(seed=seed, month=DEFAULT_MONTH, customers=2 * customers + 2)
    found = [c for c in world.customers if c.contract[0].monitoring.enabled]
    return found[:customers]


def world_contracts(
    customers: Sequence[Customer], *, seed: int = 1, sla: SlaPolicy | None = None
) -> list[Envelope]:
    """One `ContractSnapshot` per customer: its version-1 contract, with `sla` in
    place of the world's SLA policy when given."""
    events = []
    for c in customers:
        versions = [v.model_copy(update={"sla": sla}) if sla is not None else v for v in c.contract]
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


def storm_site(c: Customer, *, size: int) -> tuple[str, list[Device]]:
    """The customer's biggest site (the month's storm site) and `size` of its devices:
    its own, then more of the same kinds, named the same way, when the storm is bigger
    than the site."""
    site = max(c.sites, key=lambda s: len(s.devices))
    number = site.site_id.rsplit("-", 1)[1]
    devices = list(site.devices[:size])
    for i in range(len(devices), size):
        kind = DEVICE_KINDS[i % len(DEVICE_KINDS)]
        devices.append(Device(f"{c.customer_id}-{kind}-{number}{i + 1:02d}", site.site_id, kind))
    return site.site_id, devices


def site_storms(
    *, customers: Sequence[Customer], storm: int, singles: int, run: str, seed: int = 1
) -> list[Envelope]:
    """Per customer, from 14:00 local on the storm day: `storm` device-offline alerts
    from its storm site within a minute (one "site unreachable" incident), the source
    re-sending every one of them from +2 min (nothing new for triage), then `singles`
    unrelated alerts on its other devices 400 s apart (beyond the 5 min correlation
    window: one incident each) with an agent check-in each, then the site coming back.
    Events in event-time order per customer (customers one after another)."""
    events: list[Envelope] = []

    def add(data: EventData, c: Customer, at: datetime, subject: str) -> None:
        source = "/sim/rmm" if isinstance(data, Heartbeat) else "/sim/alertmanager"
        event_id = derive_event_id("msp-simulator", str(seed), "bench-storm", run, str(len(events)))
        events.append(
            make_event(
                data,
                customer_id=c.customer_id,
                source=source,
                time=at,
                subject=subject,
                id=event_id,
            )
        )

    for c in customers:
        site_id, devices = storm_site(c, size=storm)
        others = [d for d in c.devices if d.site_id != site_id] or list(c.devices)
        start = c.local(STORM_DAY, 14)
        alerts = []
        for i, d in enumerate(devices):  # the site goes dark within a minute
            at = start + timedelta(seconds=i * 60 / storm)
            alert = firing(
                d,
                "DeviceUnreachable",
                "device_offline",
                at,
                "critical",
                f"{d.device_id} is not answering (ICMP, agent)",
            )
            alerts.append(alert)
            add(alert, c, at, d.device_id)
        for i, alert in enumerate(alerts):  # the source re-sends the firing group
            at = start + timedelta(seconds=120 + i * 0.1)
            add(alert.model_copy(update={"starts_at": at}), c, at, alert.device_id or site_id)
        for i in range(singles):
            d = others[i % len(others)]
            check, kind, summary = NOISE[i % len(NOISE)]
            at = start + timedelta(seconds=600 + i * 400)
            alert = firing(d, check, kind, at, "critical", summary)
            alert = alert.model_copy(
                update={"source_fingerprint": f"{alert.source_fingerprint}:{i}"}
            )
            add(alert, c, at, d.device_id)
            beat = Heartbeat(
                device_id=d.device_id,
                site_id=d.site_id,
                agent=AGENT,
                interval_seconds=86400,
                sent_at=at,
            )
            add(beat, c, at, d.device_id)
        back = start + timedelta(seconds=600 + singles * 400)
        for i, alert in enumerate(alerts):  # the site comes back
            at = back + timedelta(seconds=i * 0.1)
            add(resolved(alert, at), c, at, alert.device_id or site_id)
    return events


# --- sla-clock: tickets whose deadlines fall when the benchmark needs them ---------


def sla_policy(*, priority: Priority, response_minutes: int, resolution_minutes: int) -> SlaPolicy:
    """One 24x7 target (so a deadline is the opening plus the target, whatever the
    customer's calendar) and no warnings (they take the breach's path and would only
    multiply it)."""
    target = SlaTarget(
        priority=priority,
        first_response_minutes=response_minutes,
        resolution_minutes=resolution_minutes,
        coverage="24x7",
    )
    return SlaPolicy(targets=[target], warning_thresholds_percent=[])


def open_tickets(
    *,
    customers: Sequence[Customer],
    n: int,
    first_due: datetime,
    spread_s: float,
    response_minutes: int,
    priority: Priority = "P3",
    run: str,
    seed: int = 1,
) -> list[Envelope]:
    """`n` customer-reported tickets (the month's problems, sources, devices), round
    robin over `customers`, opened so that their first-response deadlines under a 24x7
    `response_minutes` target fall evenly over `spread_s` seconds from `first_due`.
    Only the opening: nobody answers, so every ticket's clocks run until they breach."""
    rng = random.Random(f"bench-tickets:{seed}:{run}")
    base = first_due - timedelta(minutes=response_minutes)
    events = []
    for i in range(n):
        c = customers[i % len(customers)]
        title, category, _ = rng.choice(PROBLEMS)
        device = rng.choice(c.devices)
        opened = base + timedelta(seconds=spread_s * i / n)
        data = TicketCreated(
            ticket_id=f"{c.customer_id}-{run}{i:06d}",
            title=title,
            priority=priority,
            category=category,
            source=rng.choice(SOURCES),
            device_id=device.device_id,
            site_id=device.site_id,
            reported_by=f"user@{c.customer_id}.example",
            opened_at=opened,
        )
        events.append(
            make_event(
                data,
                customer_id=c.customer_id,
                source="/sim/psa",
                time=opened,
                subject=data.ticket_id,
                id=derive_event_id("msp-simulator", str(seed), "bench-ticket", run, str(i)),
            )
        )
    return events
