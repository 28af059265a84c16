"""The one settings class of notify (env `MSP_*`), built at start-up.

The MSP's own people (service desk lead, account manager, on-call engineer...) come
from `MSP_NOTIFY_DIRECTORY`: JSON in the shape of the contract's `ContactDirectory`
(`{"roles": {"on_call_engineer": [{"name": "...", "email": "..."}], ...}}`). A role of
an escalation step is looked up in the customer's directory first, then here."""

from __future__ import annotations

from datetime import time

from pydantic import Field, SecretStr, field_validator

from msp_events.base import TimeZoneName
from msp_events.types.contracts import BusinessCalendar, ContactDirectory, TimeRange
from msp_plumbing.settings import ServiceSettings

_OFFICE = [TimeRange(start=time(8, 0), end=time(18, 0))]


def _office_hours() -> BusinessCalendar:
    return BusinessCalendar(weekly_hours={d: _OFFICE for d in ("mon", "tue", "wed", "thu", "fri")})


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = Field(default=8005, ge=1, le=65535)

    notify_directory: ContactDirectory = Field(
        default_factory=ContactDirectory,
        description="The MSP's people per role (JSON, the contract's ContactDirectory shape)",
    )
    notify_on_call_role: str = Field(
        default="on_call_engineer",
        description="The MSP role told of every P1/P2 incident; never in quiet hours",
    )
    notify_msp_timezone: TimeZoneName = "Europe/London"
    notify_msp_calendar: BusinessCalendar = Field(
        default_factory=_office_hours,
        description="The MSP staff's working hours (outside them: quiet hours)",
    )

    # email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_require_tls: bool = Field(
        default=False, description="Refuse to send when the server offers no STARTTLS"
    )
    smtp_verify_tls: bool = Field(default=True, description="Check the server's certificate")
    smtp_from: str = "MSP Notifications <notify@msp.example>"
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # webhooks
    webhook_secret: SecretStr = Field(
        default=SecretStr("dev-webhook-secret-change-me"),
        description="HMAC-SHA256 key of X-Signature (shared with receivers out of band)",
    )
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)

    # the delivery worker
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_s: float = Field(default=2.0, gt=0, le=3600)
    retry_cap_s: float = Field(default=600.0, gt=0, le=86_400)
    delivery_lease_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A delivery left 'sending' this long (its sender crashed) is tried again",
    )
    delivery_poll_s: float = Field(default=0.2, gt=0, le=60)
    delivery_batch: int = Field(default=100, ge=1, le=10_000)
    delivery_concurrency: int = Field(default=20, ge=1, le=1000)
    group_window_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Incident notices of one site within this window go as one message",
    )
    # retention of the delivery log
    delivery_retention_days: float = Field(
        default=90.0,
        gt=0,
        le=3650,
        description="Sent and dead deliveries (with their attempts) older than this are pruned",
    )
    retention_interval_s: float = Field(
        default=3600.0, gt=0, le=86_400, description="How often the pruner runs"
    )
    retention_batch: int = Field(default=5000, ge=1, le=100_000)

    @field_validator("notify_on_call_role")
    @classmethod
    def _role_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a role")
        return value
