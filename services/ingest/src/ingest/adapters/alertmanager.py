"""Prometheus Alertmanager webhook (payload version "4") -> monitoring events.

Rules (each one bit Alertmanager users in other tools):
* one event per entry in `alerts[]`, the status taken from the ALERT, never from the
  group's top-level `status` (a "firing" group may carry resolved alerts);
* `fingerprint` is kept verbatim as `source_fingerprint` (incidents matches on it);
* `endsAt` = 0001-01-01T00:00:00Z means still firing; a firing alert's future `endsAt`
  is only Alertmanager's resolve-timeout guess and is ignored;
* `truncatedAlerts` (alerts over `max_alerts`) is recorded on every event of the group
  and never read as "resolved";
* unknown fields are ignored (Alertmanager adds fields within a version).
Customer, device, site and check kind come from labels whose names are set per key
(`LabelNames`); a key bound to a single customer may omit the customer label.
Event ids are derived (customer, fingerprint, status, startsAt[, endsAt]) so a re-sent
notification — Alertmanager repeats firing alerts every repeat_interval — gets the id it
had before and is not published twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ingest.adapters.common import (
    CHECK_KINDS,
    clip,
    pointer,
    pydantic_errors,
    severity_of,
    valid_identifier,
)
from msp_access.labels import LabelNames
from msp_events import Envelope, EventValidationError, FieldError, derive_event_id, make_event
from msp_events.types.monitoring import AlertFiring, AlertResolved, CheckKind

SOURCE = "/ingest/alertmanager"
SOURCE_SYSTEM = "alertmanager"
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime  # Alertmanager's own field names, kept for the pointers
    endsAt: AwareDatetime | None = None
    generatorURL: str | None = None
    fingerprint: str = Field(min_length=1, max_length=256)


class Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str | None = None
    truncatedAlerts: int = Field(default=0, ge=0)
    status: str | None = None  # the group's: informational only, never used
    receiver: str | None = None
    alerts: list[_Alert]


def parse(
    payload: Any,
    *,
    labels: LabelNames,
    default_customer: str | None,
) -> tuple[Webhook, list[Envelope]]:
    """Validate a webhook body and build its events (in `alerts[]` order). Raises
    EventValidationError naming every failing field as a JSON pointer into the body."""
    try:
        hook = Webhook.model_validate(payload)
    except ValidationError as exc:
        raise EventValidationError(pydantic_errors(exc)) from None
    return hook, events_of(hook, labels=labels, default_customer=default_customer)


def validate_json(body: bytes) -> Webhook | None:
    """A webhook straight from the bytes (one pass, no dict in between), or None when
    that does not succeed or the body holds NaN/Infinity (which `service.parse_json`
    refuses): the caller then runs `parse_json` + `parse`, which name every failing
    field. Same validator, so a body accepted here is the `Webhook` `parse` builds."""
    if b"NaN" in body or b"Infinity" in body:
        return None
    try:
        return Webhook.model_validate_json(body)
    except ValidationError:
        return None


def events_of(hook: Webhook, *, labels: LabelNames, default_customer: str | None) -> list[Envelope]:
    """The events of a validated webhook. Raises EventValidationError naming every
    failing field."""
    events: list[Envelope] = []
    errors: list[FieldError] = []
    for i, alert in enumerate(hook.alerts):
        try:
            events.append(_event(alert, i, hook, labels, default_customer))
        except EventValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise EventValidationError(errors)
    return events


def _label_id(alert: _Alert, i: int, name: str, errors: list[FieldError]) -> str | None:
    value = alert.labels.get(name)
    if value is None or value == "":
        return None
    if not valid_identifier(value):
        errors.append(
            FieldError(pointer("alerts", i, "labels", name), "not a valid id ([A-Za-z0-9._:@/-])")
        )
    return value


def _event(
    alert: _Alert,
    i: int,
    hook: Webhook,
    names: LabelNames,
    default_customer: str | None,
) -> Envelope:
    errors: list[FieldError] = []
    customer = _label_id(alert, i, names.customer, errors) or default_customer
    if customer is None:
        errors.append(
            FieldError(
                pointer("alerts", i, "labels", names.customer),
                "Field required: this key serves several customers",
            )
        )
    device = _label_id(alert, i, names.device, errors)
    site = _label_id(alert, i, names.site, errors)
    check = alert.labels.get("alertname") or ""
    if not check:
        errors.append(FieldError(pointer("alerts", i, "labels", "alertname"), "Field required"))
    ends_at = alert.endsAt if alert.endsAt is not None and alert.endsAt > ZERO_TIME else None
    if alert.status == "resolved" and ends_at is None:
        errors.append(
            FieldError(pointer("alerts", i, "endsAt"), "a resolved alert needs its end time")
        )
    if errors:
        raise EventValidationError(errors)
    assert customer is not None
    kind_label = alert.labels.get(names.check_kind, "")
    kind: CheckKind = kind_label if kind_label in CHECK_KINDS else "other"  # type: ignore[assignment]
    identity: dict[str, Any] = {
        "source_system": SOURCE_SYSTEM,
        "source_fingerprint": alert.fingerprint,
        "device_id": device,
        "site_id": site,
        "check": clip(check, 256),
        "check_kind": kind,
        "truncated_alerts": hook.truncatedAlerts,
    }
    try:
        return _build(alert, customer, device, check, identity, ends_at)
    except ValidationError as exc:
        raise EventValidationError(pydantic_errors(exc, prefix=("alerts", i))) from None
    except EventValidationError as exc:
        raise EventValidationError(
            [FieldError(pointer("alerts", i) + e.pointer, e.message) for e in exc.errors]
        ) from None


def _build(
    alert: _Alert,
    customer: str,
    device: str | None,
    check: str,
    identity: dict[str, Any],
    ends_at: datetime | None,
) -> Envelope:
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or check
    data: AlertFiring | AlertResolved
    if alert.status == "firing":
        generator = alert.generatorURL if alert.generatorURL else None
        data = AlertFiring(
            **identity,
            severity=severity_of(alert.labels.get("severity")),
            summary=clip(summary, 1000) or check,
            description=clip(alert.annotations.get("description"), 20_000),
            labels=alert.labels,
            annotations=alert.annotations,
            business_critical=alert.labels.get("business_critical", "").lower()
            in ("true", "1", "yes"),
            starts_at=alert.startsAt,
            generator_url=generator if generator and len(generator) <= 2048 else None,
        )
        at = data.starts_at
        id_parts = [alert.startsAt.astimezone(UTC).isoformat()]
    else:
        assert ends_at is not None
        data = AlertResolved(**identity, ends_at=ends_at, summary=clip(summary, 1000))
        at = data.ends_at
        id_parts = [alert.startsAt.astimezone(UTC).isoformat(), data.ends_at.isoformat()]
    # The envelope is not validated again (`trusted`): the payload is, the id is
    # derived, the source a constant, the subject clipped to its limit and the customer
    # checked against the envelope's own pattern (`valid_identifier`); its time is one
    # of the payload's UTC instants. A third of the adapter's cost per alert.
    return make_event(
        data,
        customer_id=customer,
        source=SOURCE,
        time=at,
        subject=clip(device or check, 256),
        id=derive_event_id(SOURCE_SYSTEM, customer, alert.fingerprint, alert.status, *id_parts),
        trusted=valid_identifier(customer),
    )
