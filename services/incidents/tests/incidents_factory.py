"""Builders for the incidents tests: contracts and monitoring events with readable
defaults (a managed customer, 24x7 monitoring, no maintenance windows)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from msp_events import Envelope, make_event
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot, MaintenanceWindow, MonitoringCoverage
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    Heartbeat,
    MaintenanceCancelled,
    MaintenanceScheduled,
    MaintenanceScope,
)

T0 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday: no recurring window by default
_ids = itertools.count()


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def contract(
    customer: str,
    *,
    tier: str = "managed",
    monitored: bool = True,
    windows: list[MaintenanceWindow] | None = None,
    at: datetime = T0,
    coverage: str = "24x7",
    timezone: str | None = None,
) -> Envelope:
    """`coverage="business_hours"`: the sample calendar's hours (Mon-Fri 08:00-18:00, UK
    bank holidays 2026) in `timezone` (default the sample's, Europe/London)."""
    base = sample_contract_version()
    update: dict[str, Any] = {
        "tier": tier,
        "monitoring": MonitoringCoverage(enabled=monitored, coverage=coverage),  # type: ignore[arg-type]
        "maintenance_windows": windows or [],
        "effective_from": datetime(2026, 1, 1, tzinfo=UTC),
    }
    if tier == "on_demand":
        update["flat_fee"] = None
    if timezone is not None:
        update["timezone"] = timezone
    version = type(base).model_validate({**base.model_dump(), **update})
    snapshot = ContractSnapshot(contract_id=f"C-{customer}", versions=[version])
    return make_event(
        snapshot,
        customer_id=customer,
        source="/test",
        time=at,
        id=f"contract-{customer}-{next(_ids)}",
    )


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def firing(
    customer: str,
    fp: str,
    at: datetime,
    *,
    device: str | None = "dev-1",
    site: str | None = "site-1",
    kind: str = "device_offline",
    severity: str = "critical",
    critical: bool = False,
    id: str | None = None,
    starts_at: datetime | None = None,
) -> Envelope:
    data = AlertFiring(
        source_system="rmm",
        source_fingerprint=fp,
        device_id=device,
        site_id=site,
        check=kind,
        check_kind=kind,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        summary=f"{kind} {fp}",
        business_critical=critical,
        starts_at=starts_at or at,
    )
    return make_event(data, customer_id=customer, source="/test", time=at, id=id or _id("fire"))


def resolved(
    customer: str,
    fp: str,
    at: datetime,
    *,
    device: str | None = "dev-1",
    site: str | None = "site-1",
    kind: str = "device_offline",
    id: str | None = None,
) -> Envelope:
    data = AlertResolved(
        source_system="rmm",
        source_fingerprint=fp,
        device_id=device,
        site_id=site,
        check=kind,
        check_kind=kind,  # type: ignore[arg-type]
        ends_at=at,
    )
    return make_event(data, customer_id=customer, source="/test", time=at, id=id or _id("res"))


def heartbeat(
    customer: str, device: str, at: datetime, *, site: str = "site-1", interval: int = 60
) -> Envelope:
    data = Heartbeat(
        device_id=device, site_id=site, agent="rmm/1", interval_seconds=interval, sent_at=at
    )
    return make_event(data, customer_id=customer, source="/test", time=at, id=_id("hb"))


def maintenance(
    customer: str, window: str, start: datetime, end: datetime, *, devices: list[str] | None = None
) -> Envelope:
    scope = (
        MaintenanceScope(device_ids=devices) if devices else MaintenanceScope(whole_customer=True)
    )
    data = MaintenanceScheduled(
        window_id=window,
        starts_at=start,
        ends_at=end,
        scope=scope,
        reason="patching",
        scheduled_by="tech",
    )
    return make_event(
        data, customer_id=customer, source="/test", time=start - timedelta(minutes=1), id=_id("mw")
    )


def cancelled(customer: str, window: str, at: datetime) -> Envelope:
    data = MaintenanceCancelled(window_id=window, cancelled_at=at)
    return make_event(data, customer_id=customer, source="/test", time=at, id=_id("mwc"))
