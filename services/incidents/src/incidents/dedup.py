"""Alert identity: what a firing or resolve notification means for the alert it names.

An alert is identified by (customer, source fingerprint); severity is not part of the
identity. Per alert we remember the last event applied (time and id), so a duplicate
delivery or an older event replayed after a restart is a no-op, with no unbounded
"seen ids" set to carry around.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from incidents.state import Alert, Tombstone

FiringDecision = Literal["duplicate", "late_trigger", "refresh", "refire", "new"]
ResolveDecision = Literal["duplicate", "orphan", "resolve"]


def already_applied(alert: Alert, event_id: str, at: datetime) -> bool:
    """The event is this alert's last one again, or older than it (replay, late copy)."""
    return at < alert.last_event_at or (
        at == alert.last_event_at and event_id == alert.last_event_id
    )


def classify_firing(
    alert: Alert | None,
    tombstone: Tombstone | None,
    *,
    event_id: str,
    at: datetime,
    starts_at: datetime,
    holddown: timedelta,
) -> FiringDecision:
    if alert is not None and already_applied(alert, event_id, at):
        return "duplicate"
    if alert is not None and alert.status == "firing":
        return "refresh"
    if alert is not None and alert.resolved_at is not None and at < alert.resolved_at + holddown:
        return "refire"  # within the hold-down: the same alert again (counts for flapping)
    if tombstone is not None and starts_at <= tombstone.ends_at:
        return "late_trigger"  # its resolve came first; the problem is already over
    return "new"


def classify_resolve(alert: Alert | None, *, event_id: str, at: datetime) -> ResolveDecision:
    if alert is None:
        return "orphan"
    if already_applied(alert, event_id, at) or alert.status == "resolved":
        return "duplicate"
    return "resolve"
