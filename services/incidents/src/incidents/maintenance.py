"""Maintenance windows: one-off windows from `MaintenanceScheduled` events and recurring
weekly windows from the contract (local wall-clock time in the contract's timezone).
An alert inside a window and its scope is recorded but opens nothing; when the window
ends (or is cancelled) alerts still firing are re-evaluated at once (see
`triage.advance`), the trap in Alertmanager#3367 / keep#5257."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from incidents.state import Window
from msp_events.types.contracts import WEEKDAYS, ContractVersion, MaintenanceWindow
from msp_events.types.monitoring import MaintenanceScope


def occurrence(
    window: MaintenanceWindow, timezone: str, at: datetime
) -> tuple[datetime, datetime] | None:
    """The occurrence of a recurring window that contains `at` (UTC start, end)."""
    zone = ZoneInfo(timezone)
    local_day = at.astimezone(zone).date()
    duration = timedelta(minutes=window.duration_minutes)
    # the days up to 8 back (a window lasts at most 7 days) on the window's weekday
    first = (local_day.weekday() - WEEKDAYS.index(window.weekday)) % 7
    for back in (first, first + 7) if first + 7 <= 8 else (first,):
        day = local_day - timedelta(days=back)
        start = datetime.combine(day, window.start, tzinfo=zone).astimezone(at.tzinfo)
        end = start + duration
        if start <= at < end:
            return start, end
    return None


def active_window(
    *,
    windows: dict[str, Window],
    contract: ContractVersion | None,
    device_id: str | None,
    site_id: str | None,
    at: datetime,
) -> tuple[str, datetime] | None:
    """(window key, end) of a window covering this device/site at `at`; the latest-ending
    one if several overlap (the alert waits for all of them)."""
    found: list[tuple[datetime, str]] = []
    for window_id, w in windows.items():
        scope = MaintenanceScope.model_validate(w.scope)
        if w.starts_at <= at < w.ends_at and scope.covers(device_id, site_id):
            found.append((w.ends_at, window_id))
    if contract is not None:
        for mw in contract.maintenance_windows:
            if not mw.scope.covers(device_id, site_id):
                continue
            occ = occurrence(mw, contract.timezone, at)
            if occ is not None:
                found.append((occ[1], f"contract:{mw.window_id}"))
    if not found:
        return None
    end, key = max(found)
    return key, end
