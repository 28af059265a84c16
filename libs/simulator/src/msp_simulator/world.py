"""The simulated MSP's customers, sites, devices and contracts.

Everything is derived from the seed and the month, so two calls with the same
arguments build the same world. Customer ids are stable (`cust-001`...), which is what
the README and the storylines point people at; the seed varies the names, sizes, time
zones and the month's traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from msp_events.base import Tier
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import (
    Contact,
    ContactDirectory,
    ContractVersion,
    FlatFee,
    IncludedHours,
    Rates,
)

TIMEZONES: tuple[tuple[str, str], ...] = (
    # (IANA zone, currency): New York changes to summer time on 8 March 2026 and London
    # and Berlin on 29 March, so the default month exercises DST on both continents.
    ("Europe/London", "GBP"),
    ("America/New_York", "USD"),
    ("Europe/Berlin", "EUR"),
    ("America/Los_Angeles", "USD"),
    ("Asia/Tokyo", "JPY"),
    ("Australia/Sydney", "AUD"),
)
TIER_CYCLE: tuple[Tier, ...] = ("managed", "managed", "on_demand", "managed_vip", "managed")
"""Tiers by customer number: 40 % managed... roughly 3 managed, 1 VIP, 1 on-demand in 5."""
DEVICE_KINDS = ("srv", "ws", "fw", "nas", "sw")
NAMES = (
    "Acme", "Birch", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris",
    "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer", "Quartz",
    "Raven", "Summit", "Tidal", "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr",
)  # fmt: skip


@dataclass(frozen=True)
class Device:
    device_id: str
    site_id: str
    kind: str


@dataclass(frozen=True)
class Site:
    site_id: str
    devices: tuple[Device, ...]


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    tier: Tier
    timezone: str
    currency: str
    sites: tuple[Site, ...]
    contract: tuple[ContractVersion, ...]
    """The contract's versions as the contract system holds them at month start."""

    @property
    def devices(self) -> tuple[Device, ...]:
        return tuple(d for s in self.sites for d in s.devices)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, day: date, hour: int, minute: int = 0) -> datetime:
        """The UTC instant of a local wall-clock time on `day` (DST gaps resolve forward)."""
        naive = datetime(day.year, day.month, day.day, hour, minute)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)


@dataclass(frozen=True)
class World:
    seed: int
    month: date
    """The first day of the simulated month."""
    customers: tuple[Customer, ...]

    def customer(self, customer_id: str) -> Customer:
        return next(c for c in self.customers if c.customer_id == customer_id)

    def by_tier(self, tier: Tier) -> list[Customer]:
        return [c for c in self.customers if c.tier == tier]

    @property
    def days(self) -> list[date]:
        first = self.month
        nxt = month_after(first)
        return [first + timedelta(days=i) for i in range((nxt - first).days)]

    @property
    def start(self) -> datetime:
        """Month start, UTC midnight (customers' local months differ by hours)."""
        return datetime(self.month.year, self.month.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime(*month_after(self.month).timetuple()[:3], tzinfo=UTC)


def month_after(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def parse_month(value: str) -> date:
    """ "YYYY-MM" -> the first day of that month; a clear error otherwise."""
    try:
        year, month = (int(p) for p in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ValueError(f"month: {value!r} is not YYYY-MM") from None


def build_world(*, seed: int, month: date, customers: int = 30) -> World:
    if customers < 1:
        raise ValueError("customers: must be at least 1")
    rng = random.Random(f"world:{seed}")
    built = []
    for n in range(1, customers + 1):
        customer_id = f"cust-{n:03d}"
        tier = TIER_CYCLE[(n - 1) % len(TIER_CYCLE)]
        zone, currency = TIMEZONES[(n - 1 + seed) % len(TIMEZONES)]
        sites = _sites(rng, customer_id, big=n in (1, 4))
        name = f"{NAMES[(n - 1 + seed) % len(NAMES)]} {rng.choice(('Ltd', 'GmbH', 'Inc', 'LLP'))}"
        contract = (_contract(rng, tier=tier, timezone=zone, currency=currency, sites=sites),)
        built.append(Customer(customer_id, name, tier, zone, currency, sites, contract))
    return World(seed=seed, month=month, customers=tuple(built))


def _sites(rng: random.Random, customer_id: str, *, big: bool) -> tuple[Site, ...]:
    # ~10 devices per customer; the storm customer's head office is big enough that
    # its outage is unmistakably "site unreachable".
    second = [rng.randint(2, 5)] if rng.random() < 0.4 else []
    sizes = [14, 6] if big else [rng.randint(6, 10), *second]
    sites = []
    for s, size in enumerate(sizes, start=1):
        site_id = f"{customer_id}-site-{s}"
        kinds = [DEVICE_KINDS[i % len(DEVICE_KINDS)] for i in range(size)]
        devices = tuple(
            Device(f"{customer_id}-{kind}-{s}{i + 1:02d}", site_id, kind)
            for i, kind in enumerate(kinds)
        )
        sites.append(Site(site_id, devices))
    return tuple(sites)


def _contract(
    rng: random.Random, *, tier: Tier, timezone: str, currency: str, sites: tuple[Site, ...]
) -> ContractVersion:
    base = sample_contract_version()
    hourly = Decimal(rng.choice((85, 95, 110, 125)))
    if currency == "JPY":
        hourly *= 150
    premium = tier == "on_demand"
    rates = Rates(
        currency=currency,
        standard_hourly=hourly,
        # Managed customers pay no after-hours premium (seed 004); on-demand customers do.
        after_hours_multiplier=Decimal("1.5") if premium else Decimal("1"),
        weekend_multiplier=Decimal("1.75") if premium else Decimal("1"),
        holiday_multiplier=Decimal("2") if premium else Decimal("1"),
        emergency_multiplier=Decimal("2") if premium else Decimal("1.5"),
        minimum_minutes=30 if premium else 15,
        increment_minutes=15,
    )
    devices = sum(len(s.devices) for s in sites)
    unit = Decimal(rng.choice((40, 55, 70))) * (150 if currency == "JPY" else 1)
    update: dict[str, object] = {
        "tier": tier,
        "timezone": timezone,
        # a local midnight long before the month: every storyline falls under version 1
        "effective_from": datetime(2026, 1, 1, tzinfo=ZoneInfo(timezone)).astimezone(UTC),
        "rates": rates,
        "flat_fee": None
        if premium
        else FlatFee(model="per_device", unit_price=unit, devices=devices),
        "calendar": base.calendar
        if timezone == "Europe/London"
        else base.calendar.model_copy(update={"holidays": []}),
        "monitoring": base.monitoring.model_copy(update={"enabled": not premium}),
        # people reached by email only: the demo has no webhook receivers
        "contacts": ContactDirectory(
            roles={
                "customer_it_contact": [Contact(name="IT contact", email="it@customer.example")],
                "customer_finance": [Contact(name="Finance", email="finance@customer.example")],
            },
            incident_roles=["customer_it_contact"],
            report_roles=["customer_it_contact", "customer_finance"],
        ),
        "rationale": f"Initial {tier.replace('_', ' ')} agreement: {devices} devices, "
        f"{len(sites)} site(s), {timezone} business hours.",
    }
    return ContractVersion.model_validate({**base.model_dump(), **update})


def amended(
    first: ContractVersion, *, effective: datetime, added_devices: int = 8
) -> ContractVersion:
    """Version 2 of a managed contract: more devices on the flat fee, hardware covered."""
    assert first.flat_fee is not None and first.flat_fee.unit_price is not None
    fee = FlatFee(
        model="per_device",
        unit_price=first.flat_fee.unit_price,
        devices=(first.flat_fee.devices or 0) + added_devices,
    )
    return ContractVersion.model_validate(
        {
            **first.model_dump(),
            "version": first.version + 1,
            "effective_from": effective,
            "flat_fee": fee,
            "covered_categories": [*first.covered_categories, "hardware"],
            "rationale": f"Amendment: {added_devices} more devices after the office move, and "
            "hardware swaps now covered by the flat fee.",
        }
    )


BLOCK_HOURS = Decimal(4)
"""The monthly allowance of the block-hours customer (`with_included_hours`)."""


def with_included_hours(world: World, customer_id: str) -> World:
    """The world with one managed customer on a block-hours agreement: 4 covered hours
    a month (help desk, security, patching, backup), overage at 1.2x its hourly rate,
    up to 2 unused hours rolled over."""
    customers = []
    for c in world.customers:
        if c.customer_id == customer_id:
            first = c.contract[0]
            block = IncludedHours(
                hours_per_month=BLOCK_HOURS,
                categories=[k for k in first.covered_categories if k != "monitoring"],
                overage_hourly=first.rates.standard_hourly * Decimal("1.2"),
                rollover="capped",
                rollover_cap_hours=Decimal(2),
            )
            version = first.model_copy(
                update={
                    "included_hours": block,
                    "rationale": f"{first.rationale} Block hours: {BLOCK_HOURS} h a month "
                    "included, overage billed.",
                }
            )
            c = replace(c, contract=(version, *c.contract[1:]))
        customers.append(c)
    return replace(world, customers=tuple(customers))
