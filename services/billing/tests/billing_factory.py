"""Builders for the billing tests: contract versions with readable defaults, time
entries, and events."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing.contracts import ContractState
from msp_events import Envelope, make_event
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot, ContractVersion
from msp_events.types.inventory import Asset, InventorySnapshot
from msp_events.types.monitoring import AlertFiring
from msp_events.types.tickets import TimeLogged

NY = "America/New_York"
_ids = itertools.count()

OFFICE = [{"start": time(8, 0), "end": time(18, 0)}]
WEEKDAYS_HOURS = {d: OFFICE for d in ("mon", "tue", "wed", "thu", "fri")}


def version(**overrides: Any) -> ContractVersion:
    """A managed contract (defaults from the samples: GBP 95/h, min 15, inc 15, Europe/London)."""
    data = sample_contract_version().model_dump()
    data.update(overrides)
    return ContractVersion.model_validate(data)


def managed_ny(**overrides: Any) -> ContractVersion:
    """Managed, New York, USD 100/h, fixed fee 1000, minimum 30 / increment 15."""
    base: dict[str, Any] = {
        "timezone": NY,
        "effective_from": datetime(2025, 1, 1, 5, tzinfo=UTC),
        "calendar": {
            "weekly_hours": WEEKDAYS_HOURS,
            "holidays": [{"date": date(2026, 7, 3), "name": "Independence Day (observed)"}],
        },
        "rates": {
            "currency": "USD",
            "standard_hourly": Decimal("100.00"),
            "after_hours_multiplier": Decimal("1"),
            "weekend_multiplier": Decimal("1"),
            "holiday_multiplier": Decimal("1"),
            "emergency_multiplier": Decimal("1.5"),
            "minimum_minutes": 30,
            "increment_minutes": 15,
        },
        "flat_fee": {"model": "fixed", "amount": Decimal("1000.00")},
    }
    base.update(overrides)
    return version(**base)


def on_demand_ny(**overrides: Any) -> ContractVersion:
    """On-demand, New York, USD 100/h; after hours x1.5, weekend x1.75, holiday x2,
    emergency x2; minimum 30 / increment 15."""
    rates = {
        "currency": "USD",
        "standard_hourly": Decimal("100.00"),
        "after_hours_multiplier": Decimal("1.5"),
        "weekend_multiplier": Decimal("1.75"),
        "holiday_multiplier": Decimal("2"),
        "emergency_multiplier": Decimal("2"),
        "minimum_minutes": 30,
        "increment_minutes": 15,
    }
    fields: dict[str, Any] = {"tier": "on_demand", "flat_fee": None, "rates": rates}
    fields.update(overrides)
    return managed_ny(**fields)


def contract(*versions: ContractVersion, terminated_at: datetime | None = None) -> ContractState:
    numbered = [v.model_copy(update={"version": i + 1}) for i, v in enumerate(versions)]
    return ContractState("ctr-1", tuple(numbered), terminated_at)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


def entry(start: datetime, minutes: float, category: str = "help_desk", **kw: Any) -> TimeLogged:
    n = next(_ids)
    fields: dict[str, Any] = {
        "entry_id": f"TE-{n}",
        "ticket_id": "T-1",
        "technician_id": "tech-1",
        "started_at": start,
        "ended_at": start + timedelta(minutes=minutes),
        "work_category": category,
    }
    fields.update(kw)
    return TimeLogged(**fields)


def snapshot_event(customer: str, *versions: ContractVersion, id: str | None = None) -> Envelope:
    numbered = [v.model_copy(update={"version": i + 1}) for i, v in enumerate(versions)]
    data = ContractSnapshot(contract_id=f"ctr-{customer}", versions=numbered)
    # An event id names one content, as a real CRM's does (billing parses a contract
    # once per event id per process, and tests of one process reuse customer names
    # with different contracts): the default id carries a digest of the content.
    digest = hashlib.sha256(data.model_dump_json().encode()).hexdigest()[:12]
    return make_event(
        data,
        customer_id=customer,
        source="/test",
        time=numbered[-1].effective_from,
        id=id or f"ctr-{customer}-{len(numbered)}-{digest}",
    )


def entry_event(customer: str, data: TimeLogged, *, id: str | None = None) -> Envelope:
    return make_event(
        data,
        customer_id=customer,
        source="/test/psa",
        time=data.ended_at,
        subject=data.ticket_id,
        id=id or f"evt-{customer}-{data.entry_id}",
    )


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def days(n: int) -> timedelta:
    return timedelta(days=n)


def change_order_event(customer: str, co: str, approved_at: datetime, **kw: Any) -> Envelope:
    from msp_events.types.change_orders import ChangeOrderApproved

    data = ChangeOrderApproved(
        change_order_id=co,
        scope="the agreed work",
        approved_by="cfo@customer.example",
        approved_at=approved_at,
        **kw,
    )
    return make_event(
        data, customer_id=customer, source="/test/crm", time=approved_at, id=f"co-{customer}-{co}"
    )


def overrun_event(customer: str, co: str, approved_at: datetime) -> Envelope:
    from msp_events.types.change_orders import ChangeOrderOverrunApproved

    data = ChangeOrderOverrunApproved(
        change_order_id=co,
        reason="the extra work was agreed",
        approved_by="cfo@customer.example",
        approved_at=approved_at,
    )
    return make_event(
        data,
        customer_id=customer,
        source="/test/crm",
        time=approved_at,
        id=f"co-{customer}-{co}-overrun",
    )


def workload(customers: int, per_customer: int) -> dict[str, list[Envelope]]:
    """Inputs for replay/crash tests: managed and on-demand customers (one with a
    mid-month contract change, one with 1 included hour a month), a mix of covered,
    project, scope-creep, after-hours and unclassified work in March 2026, and a change
    order approved after its work with a 60-minute budget (every other customer's
    overrun approved at the end of the month), and what monitoring and the inventory saw."""
    contracts, tickets, orders, monitoring = [], [], [], []
    kinds = ["help_desk", "installation", "patching", "upgrade", "gardening", "backup"]
    for c in range(customers):
        customer = f"cust-{c:03d}"
        if c % 3 == 2:
            contracts.append(snapshot_event(customer, on_demand_ny()))
        elif c % 3 == 1:
            change = datetime(2026, 3, 16, 4, tzinfo=UTC)  # 16 March, New York midnight
            second = managed_ny(
                flat_fee={"model": "per_user", "unit_price": Decimal("40"), "users": 25},
                effective_from=change,
            )
            contracts.append(snapshot_event(customer, managed_ny(), second))
        else:
            block = {
                "hours_per_month": Decimal("1"),
                "categories": ["help_desk", "patching"],
                "overage_hourly": Decimal("120.00"),
            }
            contracts.append(snapshot_event(customer, managed_ny(included_hours=block)))
        for i in range(per_customer):
            start = local(NY, 2026, 3, 2 + i % 27, 8 + (i * 5) % 14, (i * 7) % 60)
            e = entry(
                start,
                15 + (i * 13) % 150,
                kinds[i % len(kinds)],
                entry_id=f"{customer}-TE-{i}",
                ticket_id=f"{customer}-T-{i % 4}",
            )
            tickets.append(entry_event(customer, e))
        # approved after the work: releases the ticket's scope creep
        orders.append(
            change_order_event(
                customer,
                "CO-LATE",
                datetime(2026, 3, 30, 12, tzinfo=UTC),
                ticket_ids=[f"{customer}-T-1"],
                budget_minutes=60,
            )
        )
        if c % 2 == 0:
            orders.append(overrun_event(customer, "CO-LATE", datetime(2026, 3, 31, 12, tzinfo=UTC)))
        monitoring.extend(seen_events(customer, c))
    return {"contracts": contracts, "tickets": tickets, "orders": orders, "monitoring": monitoring}


def inventory_event(
    customer: str, observed_at: datetime, *, devices: int = 0, users: int = 0, id: str | None = None
) -> Envelope:
    """A snapshot listing `{customer}-dev-NN` devices and `{customer}-user-NN` users."""
    assets = [Asset(kind="device", asset_id=f"{customer}-dev-{i:02d}") for i in range(devices)]
    assets += [Asset(kind="user", asset_id=f"{customer}-user-{i:02d}") for i in range(users)]
    data = InventorySnapshot(source_system="rmm", observed_at=observed_at, assets=assets)
    return make_event(
        data,
        customer_id=customer,
        source="/test/rmm",
        time=observed_at,
        id=id or f"inv-{customer}-{observed_at:%Y%m%dT%H%M}",
    )


def alert_event(customer: str, device: str, at_: datetime) -> Envelope:
    data = AlertFiring(
        source_system="rmm",
        source_fingerprint=f"fp-{device}-{at_.isoformat()}",
        device_id=device,
        check="disk C:",
        check_kind="disk_space",
        severity="warning",
        summary="Disk C: above 90 %",
        starts_at=at_,
    )
    return make_event(
        data,
        customer_id=customer,
        source="/test/rmm",
        time=at_,
        id=f"al-{device}-{at_:%Y%m%dT%H%M}",
    )


def seen_events(customer: str, c: int) -> list[Envelope]:
    """What monitoring and the inventory saw of a workload customer in March 2026: 20
    devices and 27 users weekly (more users than the 25 the per-user version contracts),
    and an alert from a device the inventory never listed."""
    found = [
        inventory_event(customer, local(NY, 2026, 3, day, 6), devices=20, users=27)
        for day in (2, 9, 16, 23, 30)
    ]
    found.append(alert_event(customer, f"{customer}-dev-stray", local(NY, 2026, 3, 20, 23, 30 + c)))
    return found
