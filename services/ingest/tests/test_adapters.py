"""Golden-payload and property tests of the pure adapters (no broker needed)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_payloads import (
    PAGERDUTY_RESOLVE,
    PAGERDUTY_TRIGGER,
    PAGERDUTY_V1_TRIGGER,
    alertmanager_group,
)

from ingest.adapters import alertmanager, pagerduty
from msp_access.labels import LabelNames
from msp_events import EventValidationError, decode, encode, make_event
from msp_events.types.monitoring import AlertFiring, AlertResolved

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


def test_mixed_group_takes_status_per_alert_and_keeps_fingerprints() -> None:
    payload = alertmanager_group()
    _, events = alertmanager.parse(payload, labels=LabelNames(), default_customer=None)
    assert [type(e.data) for e in events] == [AlertFiring, AlertFiring, AlertResolved]
    assert [e.data.source_fingerprint for e in events] == [
        a["fingerprint"] for a in payload["alerts"]
    ]
    first, second, resolved = (e.data for e in events)
    assert isinstance(first, AlertFiring) and isinstance(second, AlertFiring)
    assert isinstance(resolved, AlertResolved)
    assert first.severity == "critical" and first.check_kind == "disk_space"
    assert first.device_id == "srv-dc01:9100" and first.site_id == "site-london"
    assert second.starts_at == datetime(2026, 3, 10, 1, 16, 1, tzinfo=UTC)  # +01:00 -> UTC
    assert resolved.ends_at == datetime(2026, 3, 10, 2, 14, tzinfo=UTC)
    assert resolved.check_kind == "backup_failure"
    assert {e.customer_id for e in events} == {"cust-acme"}
    assert all(e.data.truncated_alerts == 0 for e in events)
    assert len({e.id for e in events}) == 3
    for event in events:  # what goes on the wire reads back identical
        assert decode(encode(event).value) == event


def test_truncated_group_is_recorded_never_resolved() -> None:
    payload = alertmanager_group(truncated=17)
    for alert in payload["alerts"]:
        alert["status"], alert["endsAt"] = "firing", alertmanager.ZERO_TIME.isoformat()
    hook, events = alertmanager.parse(payload, labels=LabelNames(), default_customer=None)
    assert hook.truncatedAlerts == 17
    assert all(isinstance(e.data, AlertFiring) for e in events)
    assert all(e.data.truncated_alerts == 17 for e in events)


def test_resend_of_the_same_notification_has_the_same_ids() -> None:
    one = alertmanager.parse(alertmanager_group(), labels=LabelNames(), default_customer=None)
    two = alertmanager.parse(alertmanager_group(), labels=LabelNames(), default_customer=None)
    assert [e.id for e in one[1]] == [e.id for e in two[1]]


def test_label_names_come_from_the_key_and_single_customer_keys_may_omit_them() -> None:
    payload = alertmanager_group()
    for alert in payload["alerts"]:
        labels = alert["labels"]
        labels.pop("customer")
        labels["host"] = labels.pop("instance").split(":")[0]
    names = LabelNames(customer="tenant", device="host")
    _, events = alertmanager.parse(payload, labels=names, default_customer="cust-solo")
    assert {e.customer_id for e in events} == {"cust-solo"}
    assert events[0].data.device_id == "srv-dc01"
    with pytest.raises(EventValidationError) as err:
        alertmanager.parse(payload, labels=names, default_customer=None)
    assert [e.pointer for e in err.value.errors] == [f"/alerts/{i}/labels/tenant" for i in range(3)]


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda p: p.update(version="3"), "/version"),
        (lambda p: p["alerts"][1].pop("fingerprint"), "/alerts/1/fingerprint"),
        (lambda p: p["alerts"][0].update(status="pending"), "/alerts/0/status"),
        (
            lambda p: p["alerts"][2].update(endsAt=alertmanager_group()["alerts"][0]["endsAt"]),
            "/alerts/2/endsAt",
        ),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "/alerts/0/startsAt"),
        (
            lambda p: p["alerts"][0]["labels"].update(instance="not an id!"),
            "/alerts/0/labels/instance",
        ),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "/alerts/0/labels/alertname"),
    ],
)
def test_bad_webhooks_name_the_field(mutate: Any, pointer: str) -> None:
    payload = alertmanager_group()
    mutate(payload)
    with pytest.raises(EventValidationError) as err:
        alertmanager.parse(payload, labels=LabelNames(), default_customer=None)
    assert pointer in [e.pointer for e in err.value.errors]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["firing", "resolved"]), min_size=1, max_size=12))
def test_one_event_per_alert_with_that_alerts_status(statuses: list[str]) -> None:
    payload = alertmanager_group()
    template = payload["alerts"][0]
    payload["alerts"] = []
    payload["status"] = "resolved" if "firing" in statuses else "firing"  # lies: ignored
    for i, status in enumerate(statuses):
        alert = copy.deepcopy(template)
        alert.update(status=status, fingerprint=f"fp{i}")
        if status == "resolved":
            alert["endsAt"] = "2026-03-10T03:00:00Z"
        payload["alerts"].append(alert)
    _, events = alertmanager.parse(payload, labels=LabelNames(), default_customer=None)
    kinds = [AlertFiring if s == "firing" else AlertResolved for s in statuses]
    assert [type(e.data) for e in events] == kinds
    assert [e.data.source_fingerprint for e in events] == [f"fp{i}" for i in range(len(statuses))]


def test_pagerduty_v2_trigger_from_the_docs() -> None:
    event = pagerduty.validate(PAGERDUTY_TRIGGER)
    events, dedup = pagerduty.parse(
        event, labels=LabelNames(), default_customer="cust-acme", received_at=NOW
    )
    assert dedup == "samplekeyhere"
    (alert,) = events
    data = alert.data
    assert isinstance(data, AlertFiring)
    assert data.severity == "info" and data.source_fingerprint == "samplekeyhere"
    assert data.device_id == PAGERDUTY_TRIGGER["payload"]["source"]
    assert data.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert data.labels["component"] == "postgres" and data.labels["class"] == "deploy"
    assert data.annotations == {"ping time": "1500ms", "load avg": "0.75"}
    assert data.check == "deploy"


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [("critical", "critical"), ("error", "major"), ("warning", "warning"), ("info", "info")],
)
def test_pagerduty_severity_mapping(theirs: str, ours: str) -> None:
    body = copy.deepcopy(PAGERDUTY_TRIGGER)
    body["payload"]["severity"] = theirs
    events, _ = pagerduty.parse(
        pagerduty.validate(body), labels=LabelNames(), default_customer="c", received_at=NOW
    )
    assert events[0].data.severity == ours  # type: ignore[union-attr]


def test_pagerduty_resolve_acknowledge_and_v1_aliases() -> None:
    resolve = pagerduty.validate(PAGERDUTY_RESOLVE)
    events, dedup = pagerduty.parse(
        resolve, labels=LabelNames(), default_customer="cust-acme", received_at=NOW
    )
    assert isinstance(events[0].data, AlertResolved) and dedup == "samplekeyhere"
    assert events[0].data.ends_at == NOW
    ack = pagerduty.validate({**PAGERDUTY_RESOLVE, "event_action": "acknowledge"})
    assert pagerduty.parse(ack, labels=LabelNames(), default_customer="c", received_at=NOW) == (
        [],
        "samplekeyhere",
    )
    v1 = pagerduty.validate(PAGERDUTY_V1_TRIGGER)
    assert v1.routing_key == "samplekeyhere" and v1.event_action == "trigger"
    events, dedup = pagerduty.parse(
        v1, labels=LabelNames(), default_customer="cust-acme", received_at=NOW
    )
    assert dedup == "srv01/HTTP"
    assert events[0].data.summary == PAGERDUTY_V1_TRIGGER["description"]  # type: ignore[union-attr]
    assert events[0].data.severity == "major"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**PAGERDUTY_TRIGGER, "event_action": "page"}, "/event_action"),
        ({**PAGERDUTY_TRIGGER, "payload": {"summary": "x", "source": "y"}}, "/payload/severity"),
        ({k: v for k, v in PAGERDUTY_TRIGGER.items() if k != "payload"}, "/payload"),
        ({"routing_key": "k", "event_action": "resolve"}, "/dedup_key"),
        ({"service_key": "k", "event_type": "resolve"}, "/incident_key"),
        ({"service_key": "k", "event_type": "trigger"}, "/description"),
    ],
)
def test_pagerduty_errors_name_the_field(body: dict[str, Any], pointer: str) -> None:
    with pytest.raises(EventValidationError) as err:
        pagerduty.validate(body)
    assert pointer in [e.pointer for e in err.value.errors]


def test_pagerduty_several_customer_key_needs_the_customer_detail() -> None:
    event = pagerduty.validate(PAGERDUTY_TRIGGER)
    with pytest.raises(EventValidationError) as err:
        pagerduty.parse(event, labels=LabelNames(), default_customer=None, received_at=NOW)
    assert err.value.errors[0].pointer == "/payload/custom_details/customer"
    body = copy.deepcopy(PAGERDUTY_TRIGGER)
    body["payload"]["custom_details"]["customer"] = "cust-beta"
    events, _ = pagerduty.parse(
        pagerduty.validate(body), labels=LabelNames(), default_customer=None, received_at=NOW
    )
    assert events[0].customer_id == "cust-beta"


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,20}", fullmatch=True)
_TIME = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.timezones()
)


@st.composite
def _alerts(draw: st.DrawFn) -> dict[str, Any]:
    """One `alerts[]` entry as Alertmanager sends it, with every optional part varied
    (labels and annotations present or not, long texts clipped, odd but valid ids)."""
    status = draw(st.sampled_from(["firing", "resolved"]))
    labels = {"alertname": draw(st.text(min_size=1, max_size=300)), "customer": draw(_ID)}
    for name in ("instance", "site", "severity", "check_kind", "business_critical"):
        if draw(st.booleans()):
            labels[name] = draw(_ID)
    annotations = {name: draw(_TEXT) for name in ("summary", "description") if draw(st.booleans())}
    starts = draw(_TIME)
    ends = draw(_TIME)
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat() if status == "resolved" else alertmanager.ZERO_TIME.isoformat(),
        "generatorURL": draw(st.one_of(st.just(""), _TEXT)),
        "fingerprint": draw(st.text(min_size=1, max_size=40)),
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(_alerts(), min_size=1, max_size=5), st.integers(0, 3))
def test_request_path_builds_the_validated_events(
    alerts: list[dict[str, Any]], truncated: int
) -> None:
    """The request path (the body validated from its bytes, envelopes built without
    validating them again) gives exactly the events of the validated path (a dict,
    every envelope validated): equal, same fields set, same bytes on Kafka."""
    payload = {**alertmanager_group(), "alerts": alerts, "truncatedAlerts": truncated}

    def validated(*args: Any, **kwargs: Any) -> Any:
        return make_event(*args, **{**kwargs, "trusted": False})

    with mock.patch.object(alertmanager, "make_event", validated):
        try:
            _, expected = alertmanager.parse(payload, labels=LabelNames(), default_customer=None)
        except EventValidationError:
            return  # an invalid alert: the view reports `parse`'s errors either way
    body = json.dumps(payload).encode()
    hook = alertmanager.validate_json(body)
    if hook is None:  # only a text holding "NaN"/"Infinity": the view then runs `parse`
        assert b"NaN" in body or b"Infinity" in body
        return
    fast = alertmanager.events_of(hook, labels=LabelNames(), default_customer=None)
    assert fast == expected
    assert [e.model_fields_set for e in fast] == [e.model_fields_set for e in expected]
    assert [encode(e) for e in fast] == [encode(e) for e in expected]
