"""Builders for the billing tests: contract versions with readable defaults, time
entries, and events."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing.contracts import ContractState
from msp_events import Envelope, make_event
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot, ContractVersion
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
    return make_event(
        data,
        customer_id=customer,
        source="/test",
        time=numbered[-1].effective_from,
        id=id or f"ctr-{customer}-{len(numbered)}",
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
