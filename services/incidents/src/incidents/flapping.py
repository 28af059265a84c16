"""Flapping: an alert that changes state (firing <-> resolved) more than K times within
a window is flapping. Its incident then stays open with its one ticket (no resolve /
re-open churn) until the alert has been stable for a whole window."""

from __future__ import annotations

from datetime import datetime, timedelta


def record_change(changes: list[datetime], at: datetime, window: timedelta) -> list[datetime]:
    """The state-change times still inside the window ending at `at`, plus `at`."""
    return [c for c in changes if c > at - window] + [at]


def is_flapping(changes: list[datetime], max_changes: int) -> bool:
    return len(changes) > max_changes


def flapping_over(changes: list[datetime], now: datetime, window: timedelta) -> datetime | None:
    """When flapping ended (a full window without a change), or None if not yet."""
    if not changes:
        return now
    calm_at = changes[-1] + window
    return calm_at if calm_at <= now else None
