"""A customer's triage state as the rules see it.

The rules take a `CustomerState` and change it. In the service it is a partial view,
built per batch by `store.load` from one Postgres row per alert identity, open
incident, tombstone, device, window and waiting alert: the rows the batch's events
name plus every row due by the batch's time, which is all the rules can touch. Only
open incidents and alerts that can still matter are kept (`prune`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from msp_events.base import Priority, Severity, Tier

OFFLINE_KINDS = frozenset({"device_offline", "heartbeat_missing", "server_down"})
"""Check kinds that count a device offline for the site rule."""


class Alert(BaseModel):
    alert_id: str
    fingerprint: str
    device_id: str | None = None
    site_id: str | None = None
    check: str
    check_kind: str
    severity: Severity
    summary: str
    business_critical: bool = False
    status: Literal["firing", "resolved"] = "firing"
    started_at: datetime
    last_seen: datetime
    last_event_at: datetime
    last_event_id: str
    resolved_at: datetime | None = None
    incident_id: str | None = None
    suppressed_by: str | None = None
    suppressed_until: datetime | None = None
    changes: list[datetime] = Field(default_factory=list)
    flapping: bool = False
    flap_episodes: int = 0


class Incident(BaseModel):
    incident_id: str
    ticket_id: str | None = None
    title: str
    priority: Priority
    scope: Literal["device", "site", "customer"]
    site_id: str | None = None
    device_ids: list[str] = Field(default_factory=list)
    check_kind: str
    severity: Severity
    business_critical: bool = False
    tier: Tier
    alerts: list[str] = Field(default_factory=list, description="fingerprints")
    opened_at: datetime
    last_attach_at: datetime
    quiet_since: datetime | None = None
    """Set while every alert is resolved: the hold-down before resolving runs from here."""
    widened: bool = False
    """Widened from device to "site unreachable": its title counts the devices offline."""


class Tombstone(BaseModel):
    ends_at: datetime
    expires_at: datetime


class Window(BaseModel):
    """A one-off maintenance window (recurring ones are read from the contract)."""

    starts_at: datetime
    ends_at: datetime
    scope: dict[str, Any]


class DeviceBeat(BaseModel):
    site_id: str | None = None
    last_at: datetime
    interval_s: int
    silent: bool = False


class CustomerState(BaseModel):
    customer_id: str
    clock: datetime | None = None
    """Event time: the latest instant this customer's triage has reached."""
    alerts: dict[str, Alert] = Field(default_factory=dict)
    incidents: dict[str, Incident] = Field(default_factory=dict)
    tombstones: dict[str, Tombstone] = Field(default_factory=dict)
    windows: dict[str, Window] = Field(default_factory=dict)
    beats: dict[str, DeviceBeat] = Field(default_factory=dict)
    site_devices: dict[str, list[str]] = Field(default_factory=dict)
    """Known devices per site (in the service: those of the batch's events, if known)."""
    site_known: dict[str, int] = Field(default_factory=dict)
    """How many devices each site has known (from their events)."""
    pending: list[dict[str, Any]] = Field(default_factory=list)
    """Monitoring events (JSON) that arrived before the customer's contract."""
    wake_at: datetime | None = None
    """No timer of this customer is due before this instant (None: unknown, scan), so
    `advance` costs nothing per event until then. Whatever creates an earlier due time
    calls `wake`; a scan recomputes it exactly."""
    # The site rule's count of an incident's offline devices, kept incrementally for
    # the batch (not stored): incident -> device -> fingerprints of its firing offline
    # alerts, built from the state on an incident's first count (`offline_count`) and
    # kept by `note_alert` wherever an alert's status or incident changes or an alert
    # replaces another. `correlation.offline_devices` is the recount it must equal.
    _offline: dict[str, dict[str, set[str]]] = PrivateAttr(default_factory=dict)
    _offline_of: dict[str, tuple[str, str]] = PrivateAttr(default_factory=dict)
    # Open incidents by the device or site an alert can join them on (keys "d:<device>",
    # "s:<site>"), each with its rank in `incidents` order, so correlation looks up the
    # few candidates instead of walking every open incident. Built on first use in the
    # batch (not stored); kept by `add_incident` and `add_device`; a resolved incident
    # is skipped where found (`incidents_near`).
    _near: dict[str, list[Incident]] | None = PrivateAttr(default=None)
    _rank: dict[str, int] = PrivateAttr(default_factory=dict)

    def wake(self, at: datetime) -> None:
        if self.wake_at is not None and at < self.wake_at:
            self.wake_at = at

    def alerts_of(self, inc: Incident) -> Iterator[Alert]:
        """The incident's alerts still held, newest first (so `any(firing)` stops
        early). A fingerprint may since have started a new alert of another incident:
        that one is not this incident's (whose was resolved)."""
        for fp in reversed(inc.alerts):
            alert = self.alerts.get(fp)
            if alert is not None and alert.incident_id == inc.incident_id:
                yield alert

    def offline_count(self, inc: Incident) -> int:
        devices = self._offline.get(inc.incident_id)
        if devices is None:
            devices = self._offline[inc.incident_id] = {}
            for fp in inc.alerts:
                alert = self.alerts.get(fp)
                if alert is not None and alert.incident_id == inc.incident_id:
                    self._count(alert)
        return len(devices)

    def note_alert(self, alert: Alert) -> None:
        """`alert` (now `alerts[alert.fingerprint]`) changed status or incident, or
        replaced the fingerprint's previous alert: move it in or out of the count."""
        held = self._offline_of.pop(alert.fingerprint, None)
        if held is not None:
            fps = self._offline[held[0]][held[1]]
            fps.discard(alert.fingerprint)
            if not fps:
                del self._offline[held[0]][held[1]]
        if alert.incident_id in self._offline and self.alerts.get(alert.fingerprint) is alert:
            self._count(alert)

    def _count(self, alert: Alert) -> None:
        if alert.status == "firing" and alert.check_kind in OFFLINE_KINDS and alert.device_id:
            assert alert.incident_id is not None
            devices = self._offline[alert.incident_id]
            devices.setdefault(alert.device_id, set()).add(alert.fingerprint)
            self._offline_of[alert.fingerprint] = (alert.incident_id, alert.device_id)

    def forget_indexes(self) -> None:
        """The state was replaced wholesale: count and index afresh."""
        self._offline.clear()
        self._offline_of.clear()
        self._near = None
        self._rank.clear()

    def incidents_near(self, device_id: str | None, site_id: str | None) -> list[Incident]:
        """The open incidents on `device_id` or `site_id`, in `incidents` order."""
        if self._near is None:
            self._near = {}
            for inc in list(self.incidents.values()):
                self._index(inc)
        found = self._near.get(f"d:{device_id}", []) if device_id is not None else []
        if site_id is not None:
            by_site = self._near.get(f"s:{site_id}", [])
            found = by_site if not found else found + by_site
        found = [inc for inc in found if self.incidents.get(inc.incident_id) is inc]
        if len(found) > 1:  # on both keys, or several: back to `incidents` order
            rank = self._rank
            found = sorted(
                {id(inc): inc for inc in found}.values(), key=lambda i: rank[i.incident_id]
            )
        return found

    def add_incident(self, inc: Incident) -> None:
        """`inc` was just added to `incidents` (so it comes last in its order)."""
        if self._near is not None:
            self._index(inc)

    def add_device(self, inc: Incident, device_id: str) -> None:
        """`device_id` was just appended to `inc.device_ids`."""
        if self._near is not None:
            self._near.setdefault(f"d:{device_id}", []).append(inc)

    def _index(self, inc: Incident) -> None:
        assert self._near is not None
        self._rank[inc.incident_id] = len(self._rank)
        for device_id in inc.device_ids:
            self._near.setdefault(f"d:{device_id}", []).append(inc)
        if inc.site_id is not None:
            self._near.setdefault(f"s:{inc.site_id}", []).append(inc)

    def advance_clock(self, at: datetime) -> None:
        if self.clock is None or at > self.clock:
            self.clock = at

    def see_device(self, site_id: str | None, device_id: str | None) -> None:
        if site_id is None or device_id is None:
            return
        devices = self.site_devices.setdefault(site_id, [])
        if device_id not in devices:
            devices.append(device_id)
            self.site_known[site_id] = self.site_known.get(site_id, 0) + 1

    def known_devices(self, site_id: str) -> int:
        return self.site_known.get(site_id, 0)

    def prune(self, holddown: timedelta) -> None:
        """Forget resolved alerts whose hold-down is over and whose incident is gone."""
        if self.clock is None:
            return
        for fp, alert in list(self.alerts.items()):
            if (
                alert.status == "resolved"
                and alert.resolved_at is not None
                and alert.resolved_at + holddown <= self.clock
                and (alert.incident_id is None or alert.incident_id not in self.incidents)
                and not alert.flapping
            ):
                del self.alerts[fp]
