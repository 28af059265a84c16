"""Alertmanager webhook bodies (payload version "4") for the simulated monitoring.

The simulator builds the canonical `AlertFiring` / `AlertResolved` it means first (so
the generator's output validates against `msp_events`), then renders them the way
Prometheus Alertmanager would send them, so ingest's adapter is exercised for real.
Labels follow ingest's defaults: `customer`, `instance` (device), `site`, `check_kind`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from msp_events.types.monitoring import AlertFiring, AlertResolved

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's `endsAt` for an alert that is still firing."""


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def webhook_alert(
    customer_id: str, alert: AlertFiring | AlertResolved, *, started_at: datetime | None = None
) -> dict[str, Any]:
    labels = {
        "alertname": alert.check,
        "customer": customer_id,
        "check_kind": alert.check_kind,
    }
    if alert.device_id:
        labels["instance"] = alert.device_id
    if alert.site_id:
        labels["site"] = alert.site_id
    if isinstance(alert, AlertFiring):
        labels.update({"severity": alert.severity, **alert.labels})
        return {
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": alert.summary, **alert.annotations},
            "startsAt": _iso(alert.starts_at),
            "endsAt": ZERO_TIME,
            "generatorURL": alert.generator_url or "",
            "fingerprint": alert.source_fingerprint,
        }
    return {
        "status": "resolved",
        "labels": labels,
        "annotations": {"summary": alert.summary or alert.check},
        # Alertmanager repeats the alert's start on a resolve (ingest derives its id from it)
        "startsAt": _iso(started_at or alert.ends_at),
        "endsAt": _iso(alert.ends_at),
        "generatorURL": "",
        "fingerprint": alert.source_fingerprint,
    }


def webhook(
    customer_id: str,
    group: str,
    alerts: Sequence[AlertFiring | AlertResolved],
    *,
    starts: Mapping[str, datetime] | None = None,
) -> dict[str, Any]:
    """One notification of an Alertmanager group, as POSTed to a webhook receiver."""
    firing = any(isinstance(a, AlertFiring) for a in alerts)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{customer="{customer_id}", group="{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "msp-ingest",
        "groupLabels": {"customer": customer_id, "group": group},
        "commonLabels": {"customer": customer_id},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.sim.example:9093",
        "alerts": [
            webhook_alert(customer_id, a, started_at=(starts or {}).get(a.source_fingerprint))
            for a in alerts
        ],
    }
