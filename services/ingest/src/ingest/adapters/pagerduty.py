"""PagerDuty Events API v2 (and v1's aliases) -> monitoring events, so tools built
for PagerDuty can point at us.

* `trigger` -> AlertFiring, `resolve` -> AlertResolved, both with `dedup_key` as the
  `source_fingerprint`. `acknowledge` is answered like PagerDuty does but publishes
  nothing: acknowledging is done on our incidents, not by the monitoring tool.
* A trigger without `dedup_key` gets one derived from its content (PagerDuty would
  generate one too); it is returned in the response, as PagerDuty does.
* Severity: critical -> critical, error -> major, warning -> warning, info -> info.
* Customer from `payload.custom_details[<customer label>]`, else the key's only
  customer (resolve/acknowledge carry no payload: a PagerDuty-style key should serve
  one customer, as a PagerDuty routing key serves one service). Device from
  `payload.source` when it is a valid id that names more than the sender (it stays in
  `labels["source"]` anyway).
* Alertmanager's `pagerduty_configs` send `source` = `client` = "Alertmanager" (one
  source for every alert) and list the alerts of the group in `custom_details`
  (`firing`/`resolved`, see `alert_labels`). The labels every listed alert shares
  stand in for the fields we read from a webhook: customer, device (when `source` is
  only the sender), site, check kind (`custom_details[<label>]` wins), and `alertname`
  is the check, so trigger and resolve name the same check.
* v1 aliases: service_key -> routing_key, event_type -> event_action, incident_key ->
  dedup_key, description -> payload.summary, details -> payload.custom_details,
  client -> payload.source when there is no better one; severity defaults to error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ingest.adapters.common import (
    CHECK_KINDS,
    SEVERITIES,
    clip,
    pydantic_errors,
    valid_identifier,
)
from msp_access.labels import LabelNames
from msp_events import Envelope, EventValidationError, FieldError, derive_event_id, make_event
from msp_events.types.monitoring import AlertFiring, AlertResolved

SOURCE = "/ingest/pagerduty"
SOURCE_SYSTEM = "pagerduty"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=1024)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: AwareDatetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    routing_key: str | None = None  # may also come from the Authorization header
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: Payload | None = None
    client: str | None = None
    client_url: str | None = None


def from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a v1 body (service_key, event_type, incident_key...) as v2."""
    out: dict[str, Any] = {
        "routing_key": raw.get("service_key"),
        "event_action": raw.get("event_type"),
        "dedup_key": raw.get("incident_key"),
        "client": raw.get("client"),
        "client_url": raw.get("client_url"),
    }
    if out["event_action"] == "trigger":
        out["payload"] = {
            "summary": raw.get("description"),
            "source": raw.get("client") or "pagerduty-v1",
            "severity": "error",
            "custom_details": raw.get("details")
            if isinstance(raw.get("details"), dict)
            else ({"details": raw["details"]} if raw.get("details") is not None else None),
        }
    return out


def is_v1(raw: Any) -> bool:
    return isinstance(raw, dict) and "event_action" not in raw and "event_type" in raw


def validate(raw: Any) -> PagerDutyEvent:
    """The request as v2 (v1 rewritten). Errors point into the body as sent."""
    v1 = is_v1(raw)
    body = from_v1(raw) if v1 else raw
    try:
        event = PagerDutyEvent.model_validate(body)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        if v1:
            errors = [FieldError(_v1_pointer(e.pointer), e.message) for e in errors]
        raise EventValidationError(errors) from None
    if event.event_action == "trigger" and event.payload is None:
        raise EventValidationError([FieldError("/payload", "Field required for trigger")])
    if event.event_action != "trigger" and event.dedup_key is None:
        name = "incident_key" if v1 else "dedup_key"
        raise EventValidationError(
            [FieldError(f"/{name}", f"Field required for {event.event_action}")]
        )
    return event


_V1_NAMES = {
    "/routing_key": "/service_key",
    "/event_action": "/event_type",
    "/dedup_key": "/incident_key",
    "/payload/summary": "/description",
    "/payload/custom_details": "/details",
}


def _v1_pointer(p: str) -> str:
    return _V1_NAMES.get(p, p)


def _details(payload: Payload | None) -> dict[str, Any]:
    return dict(payload.custom_details or {}) if payload else {}


def alert_labels(details: Mapping[str, Any]) -> dict[str, str]:
    """The labels shared by every alert that Alertmanager's default `custom_details`
    list under `firing` (else `resolved`): up to 0.27 text blocks rendered by its
    `__text_alert_list` template (`Labels:\n - name = value\n...Annotations:...`),
    from 0.28 a list of alert objects with `labels`. Empty for any other shape."""
    for part in ("firing", "resolved"):
        found = _label_sets(details.get(part))
        if found:
            common = found[0]
            for other in found[1:]:
                common = {k: v for k, v in common.items() if other.get(k) == v}
            return common
    return {}


def _label_sets(listed: Any) -> list[dict[str, str]]:
    if isinstance(listed, list):
        return [
            {k: v for k, v in alert["labels"].items() if isinstance(v, str)}
            for alert in listed
            if isinstance(alert, dict) and isinstance(alert.get("labels"), dict)
        ]
    if not isinstance(listed, str):
        return []
    sets: list[dict[str, str]] = []
    in_labels = False
    for line in listed.splitlines():
        if line == "Labels:":
            sets.append({})
            in_labels = True
        elif in_labels and line.startswith(" - ") and " = " in line:
            name, _, value = line[3:].partition(" = ")
            sets[-1][name] = value
        else:
            in_labels = False
    return sets


def _identifier(value: Any) -> str | None:
    return value if isinstance(value, str) and valid_identifier(value) else None


def parse(
    event: PagerDutyEvent,
    *,
    labels: LabelNames,
    default_customer: str | None,
    received_at: datetime,
) -> tuple[list[Envelope], str]:
    """Events to publish (none for acknowledge) and the dedup_key to answer with."""
    payload = event.payload
    details = _details(payload)
    listed = alert_labels(details)
    customer = details.get(labels.customer)
    if customer is not None and not _identifier(customer):
        raise EventValidationError(
            [FieldError(f"/payload/custom_details/{labels.customer}", "not a valid id")]
        )
    if customer is None and labels.customer in listed:
        customer = listed[labels.customer]
        if not _identifier(customer):
            part = "firing" if details.get("firing") else "resolved"
            raise EventValidationError(
                [
                    FieldError(
                        f"/payload/custom_details/{part}",
                        f"label {labels.customer} is not a valid id",
                    )
                ]
            )
    customer = customer or default_customer
    if customer is None:
        raise EventValidationError(
            [
                FieldError(
                    f"/payload/custom_details/{labels.customer}",
                    "Field required: this key serves several customers",
                )
            ]
        )
    at = (payload.timestamp if payload and payload.timestamp else None) or received_at
    dedup_key = event.dedup_key or derive_event_id(
        "pagerduty-dedup", customer, payload.summary if payload else "", at.isoformat()
    )
    if event.event_action == "acknowledge":
        return [], dedup_key

    def label(name: str) -> Any:
        return details[name] if name in details else listed.get(name)

    kind = label(labels.check_kind)
    identity: dict[str, Any] = {
        "source_system": SOURCE_SYSTEM,
        "source_fingerprint": dedup_key,
        "device_id": _device(event, label(labels.device)),
        "site_id": _identifier(label(labels.site)),
        "check": clip(
            (payload.class_ or payload.component or listed.get("alertname") or payload.summary)
            if payload
            else "pagerduty",
            256,
        ),
        "check_kind": kind if kind in CHECK_KINDS else "other",
    }
    data: AlertFiring | AlertResolved
    try:
        if event.event_action == "trigger":
            assert payload is not None
            data = AlertFiring(
                **identity,
                severity=SEVERITIES[payload.severity],
                summary=clip(payload.summary, 1000) or payload.summary[:1000],
                labels={**listed, **_labels(payload, event)},
                annotations={k: _text(v) for k, v in details.items()},
                starts_at=at,
                generator_url=event.client_url
                if event.client_url and len(event.client_url) <= 2048
                else None,
            )
        else:
            data = AlertResolved(
                **identity, ends_at=at, summary=clip(payload.summary, 1000) if payload else None
            )
        return [
            make_event(
                data,
                customer_id=customer,
                source=SOURCE,
                time=at,
                subject=clip(identity["device_id"] or dedup_key, 256),
                id=derive_event_id(
                    SOURCE_SYSTEM, customer, dedup_key, event.event_action, at.isoformat()
                ),
            )
        ], dedup_key
    except ValidationError as exc:
        raise EventValidationError(pydantic_errors(exc, prefix=("payload",))) from None


def _device(event: PagerDutyEvent, labelled: Any) -> str | None:
    """`payload.source` names the device unless it only names the sender (it equals
    `client`, as Alertmanager's "Alertmanager" does) or is not an id; then the device
    label (from `custom_details` or the listed alerts)."""
    source = event.payload.source if event.payload else None
    if source is not None and source != event.client and valid_identifier(source):
        return source
    return _identifier(labelled)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _labels(payload: Payload, event: PagerDutyEvent) -> dict[str, str]:
    found = {
        "source": payload.source,
        "component": payload.component,
        "group": payload.group,
        "class": payload.class_,
        "client": event.client,
    }
    return {k: v for k, v in found.items() if v}
