"""What the API answers (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Status = Literal["pending", "sending", "retrying", "sent", "dead"]
ChannelName = Literal["email", "webhook", "slack", "teams"]


class AttemptRead(BaseModel):
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: Literal["sending", "sent", "failed", "unknown"]
    http_status: int | None
    error: str | None


class DeliveryRead(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    customer_id: str
    kind: str
    channel: ChannelName
    address: str
    role: str
    recipient_name: str
    status: Status
    attempts: int
    grouped: int
    """How many notices this one message carries (1 unless grouped)."""
    title: str
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    attempt_log: list[AttemptRead]


class DeliveriesRead(BaseModel):
    deliveries: list[DeliveryRead]
    next_before: datetime | None
    """Pass as `before` for the next (older) page; null on the last page."""


def delivery_read(row: Any, attempts: list[AttemptRead]) -> DeliveryRead:
    message = row["message"]
    return DeliveryRead(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        customer_id=row["customer_id"],
        kind=row["kind"],
        channel=row["channel"],
        address=row["address"],
        role=row["role"],
        recipient_name=row["recipient_name"],
        status=row["status"],
        attempts=row["attempts"],
        grouped=1 + int(row["grouped"]),
        title=message["title"] if isinstance(message, dict) else "",
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        attempt_log=attempts,
    )
