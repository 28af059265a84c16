"""Priority: impact x urgency through the ITIL matrix, then the customer's tier.

Impact comes from the scope (one device, a site, the whole customer) and the severity;
urgency from the kind of check, raised one step for business-critical devices. The tier
does not change the P-number: it orders the queue (VIP ahead of managed ahead of
on-demand at equal priority, see `sort_key`), and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from msp_events.base import Priority, Severity, Tier

Level = str  # "low" | "medium" | "high"
LEVELS = ("low", "medium", "high")

MATRIX: dict[tuple[str, str], Priority] = {
    ("high", "high"): "P1",
    ("high", "medium"): "P2",
    ("high", "low"): "P3",
    ("medium", "high"): "P2",
    ("medium", "medium"): "P3",
    ("medium", "low"): "P4",
    ("low", "high"): "P3",
    ("low", "medium"): "P4",
    ("low", "low"): "P5",
}
"""(impact, urgency) -> priority, the standard ITIL 3x3 matrix."""

URGENCY_BY_KIND: dict[str, str] = {
    "server_down": "high",
    "internet_down": "high",
    "security": "high",
    "backup_failure": "medium",
    "service_down": "medium",
    "device_offline": "medium",
    "heartbeat_missing": "medium",
    "disk_space": "medium",
    "cpu": "low",
    "memory": "low",
    "other": "low",
}

TIER_RANK: dict[str, int] = {"managed_vip": 0, "managed": 1, "on_demand": 2}
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "minor": 2, "major": 3, "critical": 4}


@dataclass(frozen=True)
class Assessment:
    priority: Priority
    impact: str
    urgency: str
    reason: str


def impact_of(scope: str, severity: Severity) -> str:
    if scope in ("customer", "site"):
        return "high"
    return "medium" if SEVERITY_RANK[severity] >= SEVERITY_RANK["major"] else "low"


def urgency_of(check_kind: str, business_critical: bool) -> str:
    base = URGENCY_BY_KIND.get(check_kind, "low")
    if business_critical and base != "high":
        return LEVELS[LEVELS.index(base) + 1]
    return base


def assess(
    *, scope: str, severity: Severity, check_kind: str, business_critical: bool, tier: Tier
) -> Assessment:
    impact = impact_of(scope, severity)
    urgency = urgency_of(check_kind, business_critical)
    priority = MATRIX[(impact, urgency)]
    critical = ", business-critical" if business_critical else ""
    tier_note = {
        "managed_vip": "tier managed_vip: ahead of managed and on-demand at equal priority",
        "managed": "tier managed: after VIP, ahead of on-demand at equal priority",
        "on_demand": "tier on_demand: after managed customers at equal priority",
    }[tier]
    reason = (
        f"impact {impact} ({scope} scope, severity {severity}) x urgency {urgency} "
        f"(check kind {check_kind}{critical}) = {priority} by the ITIL matrix; {tier_note}"
    )
    return Assessment(priority, impact, urgency, reason)


def needs_ticket(priority: Priority) -> bool:
    """P5 (low impact, low urgency) is recorded but needs no one's action."""
    return priority != "P5"


def higher(a: Priority, b: Priority) -> bool:
    """Whether `a` is more urgent than `b` (P1 > P2 > ...)."""
    return a < b


def sort_key(priority: str, tier: str, opened_at: datetime) -> tuple[str, int, datetime]:
    """The work queue's order: priority, then tier (VIP first), then oldest first."""
    return (priority, TIER_RANK.get(tier, 9), opened_at)
