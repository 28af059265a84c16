"""Dead-letter records (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class DeadLetterRecorded(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.deadletter.recorded.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (DeadLetterRecorded, )
