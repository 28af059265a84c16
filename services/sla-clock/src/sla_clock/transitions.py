"""A ticket's log entries and their replay order.

Same-instant order (documented rule): created < priority < status < comment < resolved
< closed < reopened, then event id. So an agent replying and resolving in the same
second meets first response through the reply, and a resolve + reopen at one instant
closes a cycle and opens the next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from msp_events.base import Priority
from msp_events.types.tickets import TicketStatus

Kind = Literal["created", "priority", "status", "comment", "resolved", "closed", "reopened"]
KIND_ORDER: dict[str, int] = {
    "created": 0,
    "priority": 1,
    "status": 2,
    "comment": 3,
    "resolved": 4,
    "closed": 5,
    "reopened": 6,
}


@dataclass(frozen=True)
class Transition:
    """One entry of a ticket's log. `priority` for created/priority, `status` for
    status, `agent_reply` for comment (public and by an agent), `device_id` for
    created."""

    kind: Kind
    at: datetime
    event_id: str
    priority: Priority | None = None
    status: TicketStatus | None = None
    agent_reply: bool = False
    device_id: str | None = None

    @property
    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.at, KIND_ORDER[self.kind], self.event_id)
