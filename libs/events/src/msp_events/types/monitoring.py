"""Monitoring events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class AlertFiring(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.monitoring.alert_firing.v1"

    ref: Identifier


class AlertResolved(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.monitoring.alert_resolved.v1"

    ref: Identifier


class Heartbeat(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.monitoring.heartbeat.v1"

    ref: Identifier


class MaintenanceScheduled(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.monitoring.maintenance_scheduled.v1"

    ref: Identifier


class MaintenanceCancelled(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.monitoring.maintenance_cancelled.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (AlertFiring, AlertResolved, Heartbeat, MaintenanceScheduled, MaintenanceCancelled, )
