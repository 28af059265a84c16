"""API schemas of the incidents service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AlertRead(BaseModel):
    fingerprint: str
    attached_at: datetime
    device_id: str | None = None
    site_id: str | None = None
    check_kind: str | None = None
    severity: str | None = None
    last_outcome: str | None = None


class TimelineEntry(BaseModel):
    event_id: str
    at: datetime
    kind: str
    detail: dict[str, Any]


class IncidentRead(BaseModel):
    incident_id: str
    customer_id: str
    title: str
    status: str
    priority: str
    impact: str
    urgency: str
    scope: str
    tier: str
    site_id: str | None
    device_ids: list[str]
    check_kind: str
    priority_reason: str
    runbook: str | None
    ticket_id: str | None
    flapping: bool
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    alert_count: int


class IncidentDetail(IncidentRead):
    alerts: list[AlertRead]
    timeline: list[TimelineEntry]


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    order: str = "priority, then tier (managed_vip, managed, on_demand), then opened_at"


class TriageRecord(BaseModel):
    event_id: str
    customer_id: str
    fingerprint: str | None
    outcome: str
    reason: str
    incident_id: str | None
    at: datetime
