"""Alertmanager's own `pagerduty_configs` into the PagerDuty adapter: golden payloads
(captured from Debian's Alertmanager 0.25.0, and the 0.28+ shape built from its source)
and properties. Alertmanager's `source` is "Alertmanager" for every alert, so the
device and the other ids come from the alert labels listed in `custom_details`."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_payloads import (
    ALERTMANAGER_PD_LABELS,
    ALERTMANAGER_PD_RESOLVE,
    ALERTMANAGER_PD_TRIGGER,
    PAGERDUTY_TRIGGER,
    alertmanager_pd_0_28,
)

from ingest.adapters import pagerduty
from ingest.adapters.common import valid_identifier
from msp_access.labels import LabelNames
from msp_events import Envelope, EventValidationError
from msp_events.types.monitoring import AlertFiring, AlertResolved

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


def parse(body: dict[str, Any], default: str | None = None, **names: str) -> list[Envelope]:
    events, dedup = pagerduty.parse(
        pagerduty.validate(body),
        labels=LabelNames(**names),
        default_customer=default,
        received_at=NOW,
    )
    assert dedup == body["dedup_key"]
    return events


@pytest.mark.parametrize(
    ("trigger", "resolve"),
    [
        (ALERTMANAGER_PD_TRIGGER, ALERTMANAGER_PD_RESOLVE),
        (alertmanager_pd_0_28("firing"), alertmanager_pd_0_28("resolved")),
    ],
    ids=["alertmanager-0.25-text", "alertmanager-0.28-json"],
)
def test_alertmanager_pagerduty_group_takes_its_ids_from_the_listed_labels(
    trigger: dict[str, Any], resolve: dict[str, Any]
) -> None:
    (fired,) = parse(trigger)
    (ended,) = parse(resolve)
    assert isinstance(fired.data, AlertFiring) and isinstance(ended.data, AlertResolved)
    for event in (fired, ended):
        assert event.customer_id == "cust-acme", "the customer label, not the key's default"
        assert event.data.device_id == "srv-dc01:9100", "the instance, not 'Alertmanager'"
        assert event.data.site_id == "site-london"
        assert event.data.check_kind == "disk_space"
        assert event.data.check == "NodeFilesystemAlmostOutOfSpace", "alertname, both times"
        assert event.data.source_fingerprint == trigger["dedup_key"]
        assert event.subject == "srv-dc01:9100"
    assert fired.data.labels["instance"] == "srv-dc01:9100"
    assert "mountpoint" not in fired.data.labels, "only labels every listed alert shares"
    assert fired.data.labels["source"] == "Alertmanager"


def test_a_specific_source_still_names_the_device() -> None:
    body = copy.deepcopy(ALERTMANAGER_PD_TRIGGER)
    body["payload"]["source"] = "fw-edge-01"  # pagerduty_configs' `source:` set per group
    (event,) = parse(body)
    assert event.data.device_id == "fw-edge-01"
    (docs,) = parse(PAGERDUTY_TRIGGER, default="cust-acme")  # no listed alerts: unchanged rules
    assert docs.data.device_id == PAGERDUTY_TRIGGER["payload"]["source"]


def test_custom_details_and_key_label_names_win_over_listed_labels() -> None:
    body = copy.deepcopy(ALERTMANAGER_PD_TRIGGER)
    body["payload"]["custom_details"]["instance"] = "srv-explicit"  # `details:` in the config
    (event,) = parse(body)
    assert event.data.device_id == "srv-explicit"
    (renamed,) = parse(ALERTMANAGER_PD_TRIGGER, "cust-b", customer="tenant", device="site")
    assert renamed.data.device_id == "site-london"
    assert renamed.customer_id == "cust-b", "no `tenant` label: the key's only customer"


def test_an_invalid_customer_label_names_the_details_field() -> None:
    body = copy.deepcopy(ALERTMANAGER_PD_TRIGGER)
    details = body["payload"]["custom_details"]
    details["firing"] = details["firing"].replace("customer = cust-acme", "customer = a b")
    with pytest.raises(EventValidationError) as err:
        parse(body)
    assert [e.pointer for e in err.value.errors] == ["/payload/custom_details/firing"]


LABEL_NAMES = st.sampled_from(["alertname", "instance", "customer", "site", "job", "mountpoint"])
LABEL_VALUES = st.text(
    st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=20
)
ALERTS = st.lists(st.dictionaries(LABEL_NAMES, LABEL_VALUES, min_size=1), min_size=1, max_size=4)


def text_alert_list(alerts: list[dict[str, str]]) -> str:
    """Alertmanager's `__text_alert_list` template (default.tmpl), as it renders."""
    return "".join(
        "Labels:\n"
        + "".join(f" - {k} = {v}\n" for k, v in sorted(labels.items()))
        + "Annotations:\n - summary = disk = full\nSource: http://prom\n"
        for labels in alerts
    )


@given(ALERTS)
def test_listed_labels_are_exactly_those_every_alert_shares(alerts: list[dict[str, str]]) -> None:
    shared = {k: v for k, v in alerts[0].items() if all(a.get(k) == v for a in alerts)}
    as_text = {"firing": text_alert_list(alerts), "resolved": ""}
    as_json = {"firing": [{"labels": a, "status": "firing"} for a in alerts], "resolved": []}
    assert pagerduty.alert_labels(as_text) == shared
    assert pagerduty.alert_labels(as_json) == shared
    resolved_only = {"firing": "", "resolved": text_alert_list(alerts)}
    assert pagerduty.alert_labels(resolved_only) == shared


@given(ALERTS, st.sampled_from(["trigger", "resolve"]))
def test_parse_never_mutates_its_input_and_never_uses_the_sender_as_device(
    alerts: list[dict[str, str]], action: str
) -> None:
    body = copy.deepcopy(ALERTMANAGER_PD_TRIGGER)
    body["event_action"] = action
    body["payload"]["custom_details"]["firing"] = text_alert_list(alerts)
    before = copy.deepcopy(body)
    event = pagerduty.validate(body)
    customer = pagerduty.alert_labels(body["payload"]["custom_details"]).get("customer")
    if customer is not None and not valid_identifier(customer):  # refused, naming the text
        with pytest.raises(EventValidationError) as err:
            pagerduty.parse(event, labels=LabelNames(), default_customer="c", received_at=NOW)
        assert [e.pointer for e in err.value.errors] == ["/payload/custom_details/firing"]
        return
    events, _ = pagerduty.parse(event, labels=LabelNames(), default_customer="c", received_at=NOW)
    assert body == before
    (e,) = events
    assert e.customer_id == (customer or "c")
    assert e.data.device_id != "Alertmanager"
    if e.data.device_id is not None:
        assert {a.get("instance") for a in alerts} == {e.data.device_id}


def test_labels_of_the_golden_group() -> None:
    assert pagerduty.alert_labels(ALERTMANAGER_PD_TRIGGER["payload"]["custom_details"]) == (
        ALERTMANAGER_PD_LABELS
    )
