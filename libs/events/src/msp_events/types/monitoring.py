"""Monitoring events, on `msp.monitoring.v1`.

Emitted by ingest, which normalises what RMM tools, Prometheus Alertmanager and
PagerDuty-style sources send (webhooks or the raw monitoring topic). Consumed by the
incidents service, which deduplicates, correlates and triages them into incidents.

Alert identity: the incidents service identifies an alert by the envelope's customer plus
`source_fingerprint`, the source's own fingerprint kept verbatim. We do not mint a
fingerprint of our own here: the source already knows when two notifications are the same
alert (Alertmanager re-sends a firing alert every `repeat_interval`), and a second,
derived identity would only be a way for the two to disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from msp_events.base import EventData, Identifier, Part, Severity, UtcDatetime

CheckKind = Literal[
    "backup_failure",
    "server_down",
    "internet_down",
    "device_offline",
    "disk_space",
    "cpu",
    "memory",
    "service_down",
    "security",
    "heartbeat_missing",
    "other",
]
"""What a check watches, normalised across sources. Triage (impact, correlation) and the
contract (monitoring coverage, runbooks) work on this, never on a tool's own check names,
so a customer moving RMM tools does not change their contract."""

SourceSystem = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="The monitoring system that raised the alert, e.g. alertmanager, rmm",
    ),
]

SourceFingerprint = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="The source's own alert fingerprint, verbatim (not an Identifier: "
        "sources choose their own alphabet)",
    ),
]

CheckName = Annotated[
    str, Field(min_length=1, max_length=256, description="The source's check name")
]


class MaintenanceScope(Part):
    """What a maintenance window covers: listed devices, listed sites, or the whole
    customer. Also used by recurring windows in the contract."""

    device_ids: list[Identifier] = Field(default_factory=list, max_length=10_000)
    site_ids: list[Identifier] = Field(default_factory=list, max_length=1000)
    whole_customer: bool = False

    @model_validator(mode="after")
    def _covers_something(self) -> MaintenanceScope:
        if self.whole_customer and (self.device_ids or self.site_ids):
            # Not harmful, but ambiguous to a reader ("did they mean only these?").
            raise ValueError(
                "whole_customer covers everything: leave device_ids and site_ids empty"
            )
        if not (self.whole_customer or self.device_ids or self.site_ids):
            raise ValueError("scope is empty: give device_ids, site_ids or whole_customer=true")
        return self

    def covers(self, device_id: str | None, site_id: str | None) -> bool:
        """Whether an alert on this device/site falls inside the scope."""
        return (
            self.whole_customer
            or (device_id is not None and device_id in self.device_ids)
            or (site_id is not None and site_id in self.site_ids)
        )


class _AlertIdentity(EventData):
    """Fields that say which alert an event is about; firing and resolved share them so
    the incidents service matches a recovery to its alert without guessing."""

    source_system: SourceSystem
    source_fingerprint: SourceFingerprint
    device_id: Identifier | None = Field(
        default=None, description="The device checked; absent for site-wide checks"
    )
    site_id: Identifier | None = None
    check: CheckName
    check_kind: CheckKind
    truncated_alerts: int = Field(
        default=0,
        ge=0,
        description="How many alerts the source left out of the notification this one "
        "came in (Alertmanager `truncatedAlerts`, over `max_alerts`). Says nothing about "
        "their status: never read it as resolved.",
    )


class AlertFiring(_AlertIdentity):
    """A monitoring check is failing. Emitted by ingest for each firing notification
    from a monitoring source (repeats included: incidents deduplicates by customer and
    `source_fingerprint`). Opens or feeds an incident."""

    event_type: ClassVar[str] = "msp.monitoring.alert_firing.v1"

    severity: Severity
    summary: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(default=None, max_length=20_000)
    labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=256,
        description="The source's labels, verbatim (for correlation)",
    )
    annotations: dict[str, str] = Field(default_factory=dict, max_length=256)
    business_critical: bool = Field(
        default=False, description="The device or service is marked business-critical"
    )
    starts_at: UtcDatetime = Field(description="When the source says the problem began")
    generator_url: str | None = Field(default=None, max_length=2048)


class AlertResolved(_AlertIdentity):
    """A previously firing check recovered. Emitted by ingest when the source reports
    the alert resolved. Lets incidents resolve the incident when all its alerts recover
    (and detect flapping when they fire again soon after)."""

    event_type: ClassVar[str] = "msp.monitoring.alert_resolved.v1"

    ends_at: UtcDatetime
    summary: str | None = Field(default=None, max_length=1000)


class Heartbeat(EventData):
    """A monitoring agent on a device reported in. Emitted by ingest from RMM agent
    check-ins. Incidents raises `heartbeat_missing` when the next one does not arrive
    within the announced interval (plus grace)."""

    event_type: ClassVar[str] = "msp.monitoring.heartbeat.v1"

    device_id: Identifier
    site_id: Identifier | None = None
    agent: str = Field(min_length=1, max_length=128, description="Agent name/version")
    interval_seconds: int = Field(gt=0, le=7 * 24 * 3600, description="Expected check-in period")
    sent_at: UtcDatetime


class MaintenanceScheduled(EventData):
    """A one-off maintenance window was scheduled. Emitted by ingest (from the RMM or
    PSA). Alerts inside the window and scope do not open incidents. Re-sending the same
    `window_id` replaces the window. Recurring windows live in the contract instead."""

    event_type: ClassVar[str] = "msp.monitoring.maintenance_scheduled.v1"

    window_id: Identifier
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    scope: MaintenanceScope
    reason: str = Field(min_length=1, max_length=1000)
    scheduled_by: str = Field(min_length=1, max_length=256)

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and value <= starts_at:
            raise ValueError("ends_at must be after starts_at")
        return value


class MaintenanceCancelled(EventData):
    """A scheduled maintenance window was cancelled; alerts in its scope count again
    from `cancelled_at`. Emitted by ingest."""

    event_type: ClassVar[str] = "msp.monitoring.maintenance_cancelled.v1"

    window_id: Identifier
    reason: str | None = Field(default=None, max_length=1000)
    cancelled_at: UtcDatetime


EVENTS: tuple[type[EventData], ...] = (
    AlertFiring,
    AlertResolved,
    Heartbeat,
    MaintenanceScheduled,
    MaintenanceCancelled,
)
