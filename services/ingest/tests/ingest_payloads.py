"""Golden payloads, shaped exactly like the upstream documentation's examples:
Alertmanager's webhook_config payload (version 4, prometheus.io/docs/alerting/latest/
configuration/#webhook_config) and PagerDuty's Events API v2 / v1 examples
(developer.pagerduty.com/docs/events-api-v2/trigger-events)."""

from __future__ import annotations

import copy
from typing import Any

ZERO = "0001-01-01T00:00:00Z"


def alertmanager_group(customer: str = "cust-acme", truncated: int = 0) -> dict[str, Any]:
    """A group notification whose top-level status is "firing" but which carries two
    firing alerts and one resolved alert."""
    common = {"job": "node", "customer": customer, "site": "site-london"}
    return {
        "receiver": "msp-ingest",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    **common,
                    "alertname": "NodeFilesystemAlmostOutOfSpace",
                    "instance": "srv-dc01:9100",
                    "severity": "critical",
                    "check_kind": "disk_space",
                    "mountpoint": "/",
                },
                "annotations": {
                    "summary": "Filesystem on srv-dc01 has less than 5% space left.",
                    "description": "Filesystem / on srv-dc01:9100 has only 3.9% available.",
                    "runbook_url": "https://runbooks.msp.example/disk",
                },
                "startsAt": "2026-03-10T02:15:31.512Z",
                "endsAt": ZERO,
                "generatorURL": "http://prometheus.acme.internal:9090/graph?g0.expr=node_fs",
                "fingerprint": "c2a2f5e4b1d0a9e3",
            },
            {
                "status": "firing",
                "labels": {
                    **common,
                    "alertname": "NodeDown",
                    "instance": "srv-file02:9100",
                    "severity": "warning",
                },
                "annotations": {"summary": "srv-file02 is not answering scrapes."},
                "startsAt": "2026-03-10T02:16:01.000+01:00",
                "endsAt": "2026-03-10T02:21:01.000+01:00",  # a firing alert's guess only
                "generatorURL": "http://prometheus.acme.internal:9090/graph?g0.expr=up",
                "fingerprint": "7f1c0b3d9e2a4c55",
            },
            {
                "status": "resolved",
                "labels": {
                    **common,
                    "alertname": "BackupJobFailed",
                    "instance": "srv-dc01:9182",
                    "severity": "major",
                    "check_kind": "backup_failure",
                },
                "annotations": {"summary": "Veeam job DC01-Full failed."},
                "startsAt": "2026-03-10T01:00:00Z",
                "endsAt": "2026-03-10T02:14:00Z",
                "generatorURL": "http://prometheus.acme.internal:9090/graph?g0.expr=veeam",
                "fingerprint": "4c1e2d9b7a3f6e10",
            },
        ],
        "groupLabels": {"job": "node"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.acme.internal:9093",
        "version": "4",
        "groupKey": '{}/{customer="cust-acme"}:{job="node"}',
        "truncatedAlerts": truncated,
        "someFieldFromAFutureAlertmanager": {"ignored": True},
    }


PAGERDUTY_TRIGGER: dict[str, Any] = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "info",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/"
        "api-stats-prod-003",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "samplekeyhere",
    "dedup_key": "samplekeyhere",
    "images": [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Example Monitoring Service",
    "client_url": "https://monitoring.example.com",
}

PAGERDUTY_RESOLVE: dict[str, Any] = {
    "routing_key": "samplekeyhere",
    "dedup_key": "samplekeyhere",
    "event_action": "resolve",
}

PAGERDUTY_V1_TRIGGER: dict[str, Any] = {
    "service_key": "samplekeyhere",
    "event_type": "trigger",
    "incident_key": "srv01/HTTP",
    "description": "FAILURE for production/HTTP on machine srv01.acme.com",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.service.com",
    "details": {"ping time": "1500ms", "load avg": 0.75},
}


def with_key(body: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["service_key" if "service_key" in out else "routing_key"] = key
    return out


def heartbeat_event(customer: str, i: int = 0) -> dict[str, Any]:
    """A valid structured CloudEvent (JSON object) of an inbound type."""
    from datetime import UTC, datetime

    from msp_events import make_event
    from msp_events.serde import to_json_obj
    from msp_events.types.monitoring import Heartbeat

    sent = datetime(2026, 3, 10, 8, i % 60, tzinfo=UTC)
    event = make_event(
        Heartbeat(device_id=f"ws-{i}", agent="rmm/5.9", interval_seconds=300, sent_at=sent),
        customer_id=customer,
        source="/rmm",
        time=sent,
        id=f"hb-{customer}-{i}",
    )
    return to_json_obj(event)


# Alertmanager's own `pagerduty_configs` (Events API v2, default `details`), as Debian's
# Alertmanager 0.25.0 posted them (captured; routing_key replaced by the test's key
# with `with_key`): two alerts of one group (group_by alertname, instance) that differ
# only in `mountpoint`, then the group resolved. `source` is the sender, the alerts'
# labels are only in the `custom_details` text.
ALERTMANAGER_PD_TRIGGER: dict[str, Any] = {
    "routing_key": "mspk_abc_secret",
    "dedup_key": "a123dd64b65c8a1ad6281bbf5f4db267e5690980e50d07a955df6425715fab62",
    "event_action": "trigger",
    "payload": {
        "summary": "[FIRING:2] NodeFilesystemAlmostOutOfSpace srv-dc01:9100"
        " (disk_space cust-acme critical site-london)",
        "source": "Alertmanager",
        "severity": "error",
        "custom_details": {
            "firing": (
                "Labels:\n"
                " - alertname = NodeFilesystemAlmostOutOfSpace\n"
                " - check_kind = disk_space\n"
                " - customer = cust-acme\n"
                " - instance = srv-dc01:9100\n"
                " - mountpoint = /\n"
                " - severity = critical\n"
                " - site = site-london\n"
                "Annotations:\n"
                " - summary = Filesystem on srv-dc01 has less than 5% space left.\n"
                "Source: http://prometheus.acme.internal:9090/graph?g0.expr=node_fs\n"
                "Labels:\n"
                " - alertname = NodeFilesystemAlmostOutOfSpace\n"
                " - check_kind = disk_space\n"
                " - customer = cust-acme\n"
                " - instance = srv-dc01:9100\n"
                " - mountpoint = /boot\n"
                " - severity = critical\n"
                " - site = site-london\n"
                "Annotations:\n"
                " - summary = Filesystem on srv-dc01 has less than 5% space left.\n"
                "Source: http://prometheus.acme.internal:9090/graph?g0.expr=node_fs\n"
            ),
            "num_firing": "2",
            "num_resolved": "0",
            "resolved": "",
        },
    },
    "client": "Alertmanager",
    "client_url": "http://vm:19093/#/alerts?receiver=all",
}

ALERTMANAGER_PD_RESOLVE: dict[str, Any] = {
    "routing_key": "mspk_abc_secret",
    "dedup_key": "a123dd64b65c8a1ad6281bbf5f4db267e5690980e50d07a955df6425715fab62",
    "event_action": "resolve",
    "payload": {
        "summary": "[RESOLVED] NodeFilesystemAlmostOutOfSpace srv-dc01:9100"
        " (disk_space cust-acme critical site-london)",
        "source": "Alertmanager",
        "severity": "error",
        "custom_details": {
            "firing": "",
            "num_firing": "0",
            "num_resolved": "2",
            "resolved": (
                "Labels:\n"
                " - alertname = NodeFilesystemAlmostOutOfSpace\n"
                " - check_kind = disk_space\n"
                " - customer = cust-acme\n"
                " - instance = srv-dc01:9100\n"
                " - mountpoint = /\n"
                " - severity = critical\n"
                " - site = site-london\n"
                "Annotations:\n"
                " - summary = Filesystem on srv-dc01 has less than 5% space left.\n"
                "Source: http://prometheus.acme.internal:9090/graph?g0.expr=node_fs\n"
                "Labels:\n"
                " - alertname = NodeFilesystemAlmostOutOfSpace\n"
                " - check_kind = disk_space\n"
                " - customer = cust-acme\n"
                " - instance = srv-dc01:9100\n"
                " - mountpoint = /boot\n"
                " - severity = critical\n"
                " - site = site-london\n"
                "Annotations:\n"
                " - summary = Filesystem on srv-dc01 has less than 5% space left.\n"
                "Source: http://prometheus.acme.internal:9090/graph?g0.expr=node_fs\n"
            ),
        },
    },
    "client": "Alertmanager",
    "client_url": "http://vm:19093/#/alerts?receiver=all",
}


def alertmanager_pd_0_28(status: str = "firing") -> dict[str, Any]:
    """The same group as Alertmanager 0.28+ sends it: its default details are
    `{{ .Alerts.Firing | toJson }}` etc., decoded again into JSON (lists of alert
    objects, counts as numbers). Built from Alertmanager's source, not captured."""
    alerts = [
        {
            "status": status,
            "labels": {**ALERTMANAGER_PD_LABELS, "mountpoint": mountpoint},
            "annotations": {"summary": "Filesystem on srv-dc01 has less than 5% space left."},
            "startsAt": "2026-03-10T02:15:31.512Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-10T03:00:00Z",
            "generatorURL": "http://prometheus.acme.internal:9090/graph?g0.expr=node_fs",
            "fingerprint": fingerprint,
        }
        for mountpoint, fingerprint in (("/", "0b8f1c2d3e4a5b6c"), ("/boot", "1c9e2d3f4a5b6c7d"))
    ]
    body = copy.deepcopy(ALERTMANAGER_PD_TRIGGER if status == "firing" else ALERTMANAGER_PD_RESOLVE)
    firing = alerts if status == "firing" else []
    resolved = alerts if status == "resolved" else []
    body["payload"]["custom_details"] = {
        "firing": firing,
        "resolved": resolved,
        "num_firing": len(firing),
        "num_resolved": len(resolved),
    }
    return body


ALERTMANAGER_PD_LABELS = {
    "alertname": "NodeFilesystemAlmostOutOfSpace",
    "check_kind": "disk_space",
    "customer": "cust-acme",
    "instance": "srv-dc01:9100",
    "severity": "critical",
    "site": "site-london",
}
"""The labels both alerts of the group share."""
