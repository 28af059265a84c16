"""SLA events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class SlaClockStarted(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.clock_started.v1"

    ref: Identifier


class SlaClockPaused(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.clock_paused.v1"

    ref: Identifier


class SlaClockResumed(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.clock_resumed.v1"

    ref: Identifier


class SlaWarning(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.warning.v1"

    ref: Identifier


class SlaBreached(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.breached.v1"

    ref: Identifier


class SlaMet(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.met.v1"

    ref: Identifier


class SlaClockCancelled(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.sla.clock_cancelled.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (SlaClockStarted, SlaClockPaused, SlaClockResumed, SlaWarning, SlaBreached, SlaMet, SlaClockCancelled, )
