"""Who plays which storyline, and the list of storylines the month must contain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

STORIES: tuple[str, ...] = (
    "contracts",
    "alert_storm",
    "flapping_check",
    "maintenance_window",
    "backup_failures",
    "customer_tickets",
    "waiting_on_customer",
    "vendor_rma",
    "project_change_order",
    "included_hours",
    "scope_creep",
    "after_hours",
    "contract_amendment",
    "alert_noise",
    "inventory",
    "month_end_checkin",
)
"""Every storyline of the month, in the order the README describes them."""


@dataclass
class Cast:
    """Who plays which storyline: story -> {customer_id, ticket_id, ...}."""

    roles: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, story: str, **facts: str) -> None:
        self.roles[story] = facts


def weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)
