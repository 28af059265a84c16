"""Contract events (STUB: fields to be filled in)."""

from __future__ import annotations

from typing import ClassVar

from msp_events.base import EventData, Identifier


class ContractSnapshot(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.contract.snapshot.v1"

    ref: Identifier


class ContractTerminated(EventData):
    """TODO."""

    event_type: ClassVar[str] = "msp.contract.terminated.v1"

    ref: Identifier


EVENTS: tuple[type[EventData], ...] = (ContractSnapshot, ContractTerminated, )
