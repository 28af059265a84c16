"""Monitoring coverage: which customers' alerts triage acts on. Customers whose contract
has no monitoring coverage (on-demand) get their events recorded with the reason and
no incident (seed 004: they monitor their own backups and call us).

Hours: with `monitoring.coverage = business_hours`, an alert outside the contract's
business hours (its calendar: weekly hours and holidays, in its zone) opens nothing
until coverage next starts; it is recorded "outside_coverage" and, if still firing
then, triaged at that instant (`coverage_starts_at`; re-evaluated by `triage.advance`).
"""

from __future__ import annotations

from datetime import datetime

from msp_events.calendar import calendar_for
from msp_events.types.contracts import ContractVersion

OUTSIDE_COVERAGE = "outside_coverage"
"""The `Alert.suppressed_by` key of an alert waiting for monitoring coverage to start."""


def not_monitored_reason(
    version: ContractVersion | None, check_kind: str, device_id: str | None
) -> str | None:
    if version is None:
        return "not monitored: no contract version in force at the alert's time"
    if not version.monitoring.enabled:
        return f"not monitored: the {version.tier} contract has no monitoring coverage"
    kinds = version.monitoring.check_kinds
    if kinds is not None and check_kind not in kinds:
        return f"not monitored: check kind {check_kind} is not covered by the contract"
    if device_id is not None and version.is_excluded(device_id):
        return f"not monitored: device {device_id} is excluded from the contract"
    return None


def coverage_starts_at(version: ContractVersion, at: datetime) -> datetime | None:
    """None when `at` is inside the contract's monitoring coverage (always, for 24x7);
    else the instant coverage next starts (the next opening of its business hours)."""
    if version.monitoring.coverage != "business_hours":
        return None
    calendar = calendar_for(version, "business_hours")
    if calendar.is_open(at):
        return None
    start, _ = next(calendar.intervals_from(at))
    return start
