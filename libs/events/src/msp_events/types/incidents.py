"""Incident events, on `msp.incidents.v1`.

Emitted by the incidents service, which triages monitoring events: deduplicates by
alert fingerprint, correlates related alerts into one incident, detects flapping,
honours maintenance windows and sets priority from impact x urgency and the customer's
tier. Consumed by sla-clock and billing (context), and by Grafana (availability, share
of incidents caught proactively). The envelope's `subject` is the incident id.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from msp_events.base import EventData, Identifier, Priority, Tier, UtcDatetime
from msp_events.types.monitoring import CheckKind

Level = Literal["low", "medium", "high"]

AlertFingerprint = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        description="An alert's identity as incidents keys it (customer + source fingerprint)",
    ),
]


class IncidentOpened(EventData):
    """Triage opened an incident for one or more alerts. Emitted by incidents.
    `priority` comes from impact x urgency adjusted for the customer's tier;
    `priority_reason` says how, for the audit. `ticket_id` is set when the incident
    opens a proactive ticket."""

    event_type: ClassVar[str] = "msp.incident.opened.v1"

    incident_id: Identifier
    title: str = Field(min_length=1, max_length=500)
    priority: Priority
    impact: Level
    urgency: Level
    scope: Literal["device", "site", "customer"] = Field(description="How much is affected")
    site_id: Identifier | None = None
    device_ids: list[Identifier] = Field(default_factory=list)
    alert_fingerprints: list[AlertFingerprint] = Field(
        min_length=1, description="The alerts that opened the incident"
    )
    check_kind: CheckKind
    parent_incident_id: Identifier | None = Field(
        default=None, description="Set when correlated under a wider incident"
    )
    priority_reason: str = Field(min_length=1, max_length=1000)
    tier: Tier
    opened_at: UtcDatetime
    ticket_id: Identifier | None = None
    runbook: str | None = Field(
        default=None,
        max_length=2048,
        description="The runbook (standard operating procedure) the contract names for "
        "this check kind",
    )

    @model_validator(mode="after")
    def _scope_has_its_target(self) -> IncidentOpened:
        if self.scope == "device" and not self.device_ids:
            raise ValueError("scope 'device' needs device_ids")
        if self.scope == "site" and self.site_id is None:
            raise ValueError("scope 'site' needs site_id")
        if self.parent_incident_id == self.incident_id:
            raise ValueError("an incident cannot be its own parent")
        return self


class IncidentUpdated(EventData):
    """Something about an open incident changed: priority, more alerts (and devices)
    correlated into it, its scope widened (impact raised, title rewritten), flapping
    detected or cleared, child incidents attached. Emitted by incidents. Only the fields
    that changed are set; `reason` says why."""

    event_type: ClassVar[str] = "msp.incident.updated.v1"

    incident_id: Identifier
    priority: Priority | None = Field(default=None, description="The new priority")
    previous_priority: Priority | None = None
    alerts_attached: list[AlertFingerprint] = Field(default_factory=list)
    flapping: bool | None = Field(default=None, description="Flapping detected (true) or over")
    children_attached: list[Identifier] = Field(
        default_factory=list, description="Incidents now correlated under this one"
    )
    reason: str = Field(min_length=1, max_length=1000)
    updated_at: UtcDatetime
    scope: Literal["device", "site", "customer"] | None = Field(
        default=None, description="The new scope, when the incident widened (e.g. site down)"
    )
    title: str | None = Field(default=None, min_length=1, max_length=500)
    devices_attached: list[Identifier] = Field(
        default_factory=list,
        description="Devices new to the incident, with the alerts attached: its device_ids "
        "are those it opened with plus every update's devices_attached, in order",
    )
    impact: Level | None = Field(
        default=None, description="The new impact, when it rose (e.g. widened to a site)"
    )
    urgency: Level | None = Field(
        default=None, description="The new urgency, when it rose (e.g. a business-critical device)"
    )

    @field_validator("previous_priority")
    @classmethod
    def _previous_with_new(cls, value: Priority | None, info: ValidationInfo) -> Priority | None:
        if value is not None and info.data.get("priority") is None:
            raise ValueError("previous_priority is only meaningful with priority")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> IncidentUpdated:
        if (
            self.priority is None
            and not self.alerts_attached
            and self.flapping is None
            and not self.children_attached
        ):
            raise ValueError(
                "an update must change something: priority, alerts_attached, flapping "
                "or children_attached"
            )
        if self.incident_id in self.children_attached:
            raise ValueError("an incident cannot be its own child")
        return self


class IncidentResolved(EventData):
    """The incident is over: all its alerts recovered (or it was resolved by hand or
    merged into a parent). Emitted by incidents. `duration_seconds` is the outage
    measured from `opened_at`, the input to measured availability."""

    event_type: ClassVar[str] = "msp.incident.resolved.v1"

    incident_id: Identifier
    resolved_at: UtcDatetime
    duration_seconds: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=1000)


EVENTS: tuple[type[EventData], ...] = (
    IncidentOpened,
    IncidentUpdated,
    IncidentResolved,
)
