"""Change order events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class ChangeOrderApproved(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.change_order.approved.v1"

    ref: Identifier


class ChangeOrderRejected(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.change_order.rejected.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (ChangeOrderApproved, ChangeOrderRejected, )
