"""Monitoring coverage: which customers' alerts triage acts on. Customers whose contract
has no monitoring coverage (on-demand) get their events recorded with the reason and
no incident (seed 004: they monitor their own backups and call us)."""

from __future__ import annotations

from msp_events.types.contracts import ContractVersion


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
