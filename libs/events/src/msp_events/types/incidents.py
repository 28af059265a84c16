"""Incident events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class IncidentOpened(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.incident.opened.v1"

    ref: Identifier


class IncidentUpdated(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.incident.updated.v1"

    ref: Identifier


class IncidentResolved(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.incident.resolved.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (IncidentOpened, IncidentUpdated, IncidentResolved, )
