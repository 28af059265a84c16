"""A ticket's life in the PSA, as the events the simulator posts for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from msp_events.base import Priority
from msp_events.types.tickets import (
    TicketAssigned,
    TicketClosed,
    TicketCommentAdded,
    TicketCreated,
    TicketResolved,
    TicketSource,
    TicketStatus,
    TicketStatusChanged,
    TimeLogged,
)
from msp_simulator.script import Script


@dataclass
class Ticket:
    """Posts the events of one ticket; each method takes the event time."""

    script: Script
    story: str
    customer_id: str
    ticket_id: str
    technician_id: str = "tech-ana"
    _entries: int = 0
    _comments: int = 0
    _status: TicketStatus = "new"

    def open(
        self,
        at: datetime,
        *,
        title: str,
        priority: Priority,
        category: str,
        source: TicketSource = "phone",
        device_id: str | None = None,
        site_id: str | None = None,
    ) -> Ticket:
        self._post(
            at,
            TicketCreated(
                ticket_id=self.ticket_id,
                title=title,
                priority=priority,
                category=category,
                source=source,
                device_id=device_id,
                site_id=site_id,
                reported_by=f"user@{self.customer_id}.example",
                opened_at=at,
            ),
            "created",
        )
        self._post(
            at + timedelta(minutes=2),
            TicketAssigned(
                ticket_id=self.ticket_id,
                technician_id=self.technician_id,
                team="service-desk",
                assigned_at=at + timedelta(minutes=2),
            ),
            "assigned",
        )
        return self

    def reply(self, at: datetime, body: str, *, by_customer: bool = False) -> Ticket:
        self._comments += 1
        self._post(
            at,
            TicketCommentAdded(
                ticket_id=self.ticket_id,
                comment_id=f"{self.ticket_id}-c{self._comments}",
                author_kind="customer" if by_customer else "agent",
                author_id=None if by_customer else self.technician_id,
                public=True,
                body=body,
                added_at=at,
            ),
            f"comment-{self._comments}",
        )
        return self

    def status(self, at: datetime, status: TicketStatus, reason: str) -> Ticket:
        self._post(
            at,
            TicketStatusChanged(
                ticket_id=self.ticket_id,
                status=status,
                previous_status=self._status,
                reason=reason,
                changed_at=at,
            ),
            f"status-{status}-{at.isoformat()}",
        )
        self._status = status
        return self

    def work(
        self,
        started_at: datetime,
        minutes: int,
        category: str,
        description: str,
        **extra: str | bool | None,
    ) -> Ticket:
        self._entries += 1
        ended_at = started_at + timedelta(minutes=minutes)
        self._post(
            ended_at,
            TimeLogged(
                entry_id=f"{self.ticket_id}-te{self._entries}",
                ticket_id=self.ticket_id,
                technician_id=self.technician_id,
                started_at=started_at,
                ended_at=ended_at,
                work_category=category,
                description=description,
                **extra,
            ),
            f"time-{self._entries}",
        )
        return self

    def resolve(self, at: datetime, code: str = "fixed", *, close_after_h: int = 24) -> Ticket:
        self._post(
            at,
            TicketResolved(
                ticket_id=self.ticket_id,
                resolution_code=code,
                resolved_by=self.technician_id,
                resolved_at=at,
            ),
            "resolved",
        )
        closed = at + timedelta(hours=close_after_h)
        self._post(closed, TicketClosed(ticket_id=self.ticket_id, closed_at=closed), "closed")
        return self

    def _post(
        self,
        at: datetime,
        data: TicketCreated
        | TicketAssigned
        | TicketCommentAdded
        | TicketStatusChanged
        | TimeLogged
        | TicketResolved
        | TicketClosed,
        part: str,
    ) -> None:
        self.script.post(self.story, self.customer_id, data, at, self.ticket_id, part)
