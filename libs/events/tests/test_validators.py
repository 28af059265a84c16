"""Cross-field rules of the monitoring, change-order, incident, SLA, billing and
dead-letter payloads, checked on the wire (error pointers) and on the models."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from msp_events import serde
from msp_events.envelope import Envelope
from msp_events.serde import FieldError
from msp_events.types import sla
from msp_events.types.billing import InvoiceLine, line_amount, price, round_money
from msp_events.types.deadletter import (
    UNKNOWN_CUSTOMER,
    DeadLetterRecorded,
    dead_letter_customer_id,
)
from msp_events.types.monitoring import MaintenanceScope

ExpectError = Callable[..., list[FieldError]]


def setter(**values: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets data fields (None deletes the field)."""

    def mutate(data: dict[str, Any]) -> None:
        for key, value in values.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    return mutate


# --- monitoring --------------------------------------------------------------------------

MAINT = "msp.monitoring.maintenance_scheduled.v1"


@pytest.mark.parametrize("ends_at", ["2026-03-14T22:00:00Z", "2026-03-14T21:00:00Z"])
def test_maintenance_must_end_after_it_starts(ends_at: str, expect_error: ExpectError) -> None:
    expect_error(MAINT, setter(ends_at=ends_at), "/data/ends_at", "ends_at must be after starts_at")


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "scope is empty"),
        ({"device_ids": [], "site_ids": []}, "scope is empty"),
        ({"whole_customer": True, "site_ids": ["s1"]}, "leave device_ids and site_ids empty"),
    ],
)
def test_maintenance_scope_rules(
    scope: dict[str, Any], message: str, expect_error: ExpectError
) -> None:
    expect_error(MAINT, setter(scope=scope), "/data/scope", message)


def test_maintenance_scope_covers() -> None:
    sites = MaintenanceScope(site_ids=["s1"], device_ids=["d9"])
    assert sites.covers("d1", "s1")
    assert sites.covers("d9", None)
    assert not sites.covers("d1", "s2")
    assert not sites.covers(None, None)
    assert MaintenanceScope(whole_customer=True).covers(None, None)


@pytest.mark.parametrize(
    ("event_type", "values", "pointer", "message"),
    [
        ("msp.monitoring.alert_firing.v1", {"check_kind": "printer"}, "/data/check_kind", ""),
        ("msp.monitoring.alert_firing.v1", {"severity": "fatal"}, "/data/severity", ""),
        ("msp.monitoring.alert_firing.v1", {"labels": {"a": 1}}, "/data/labels/a", "string"),
        (
            "msp.monitoring.alert_firing.v1",
            {"source_system": "Alert Manager"},
            "/data/source_system",
            "pattern",
        ),
        (
            "msp.monitoring.alert_resolved.v1",
            {"source_fingerprint": ""},
            "/data/source_fingerprint",
            "",
        ),
        (
            "msp.monitoring.heartbeat.v1",
            {"interval_seconds": 0},
            "/data/interval_seconds",
            "greater than 0",
        ),
    ],
)
def test_monitoring_field_rules(
    event_type: str, values: dict[str, Any], pointer: str, message: str, expect_error: ExpectError
) -> None:
    expect_error(event_type, setter(**values), pointer, message)


def test_alert_identity_fields_are_shared(samples: dict[str, Envelope]) -> None:
    firing = samples["msp.monitoring.alert_firing.v1"].data
    resolved = samples["msp.monitoring.alert_resolved.v1"].data
    identity = (
        "source_system",
        "source_fingerprint",
        "device_id",
        "site_id",
        "check",
        "check_kind",
    )
    assert all(getattr(firing, f) == getattr(resolved, f) for f in identity)


def test_site_wide_alert_needs_no_device(sample_obj: Any) -> None:
    obj = sample_obj("msp.monitoring.alert_firing.v1")
    del obj["data"]["device_id"]
    assert serde.parse_event(obj).data.device_id is None


# --- change orders -----------------------------------------------------------------------

APPROVED = "msp.change_order.approved.v1"


def test_budget_amount_needs_currency(expect_error: ExpectError) -> None:
    expect_error(APPROVED, setter(currency=None), "/data/currency", "currency is required")


def test_budget_in_minutes_needs_no_currency(sample_obj: Any) -> None:
    obj = sample_obj(APPROVED)
    del obj["data"]["currency"], obj["data"]["budget_amount"]
    assert serde.parse_event(obj).data.budget_minutes == 180


def test_change_order_validity_after_approval(expect_error: ExpectError) -> None:
    expect_error(
        APPROVED,
        setter(valid_until="2026-03-11T09:00:00Z"),
        "/data/valid_until",
        "valid_until must be after approved_at",
    )


# --- incidents ---------------------------------------------------------------------------

OPENED = "msp.incident.opened.v1"
UPDATED = "msp.incident.updated.v1"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"device_ids": []}, "scope 'device' needs device_ids"),
        ({"scope": "site", "site_id": None}, "scope 'site' needs site_id"),
        ({"parent_incident_id": "inc-7f3a9c"}, "cannot be its own parent"),
    ],
)
def test_incident_opened_rules(
    values: dict[str, Any], message: str, expect_error: ExpectError
) -> None:
    expect_error(OPENED, setter(**values), "/data", message)


def test_incident_scope_customer_needs_no_target(sample_obj: Any) -> None:
    obj = sample_obj(OPENED)
    obj["data"].update(scope="customer", device_ids=[])
    del obj["data"]["site_id"]
    assert serde.parse_event(obj).data.scope == "customer"


def test_incident_needs_an_alert(expect_error: ExpectError) -> None:
    expect_error(OPENED, setter(alert_fingerprints=[]), "/data/alert_fingerprints", "at least 1")


def test_incident_update_must_change_something(expect_error: ExpectError) -> None:
    expect_error(UPDATED, setter(alerts_attached=[]), "/data", "an update must change something")


@pytest.mark.parametrize(
    "change",
    [{"priority": "P1"}, {"flapping": False}, {"children_attached": ["inc-2"]}],
)
def test_incident_update_accepts_each_kind_of_change(
    change: dict[str, Any], sample_obj: Any
) -> None:
    obj = sample_obj(UPDATED)
    obj["data"]["alerts_attached"] = []
    obj["data"].update(change)
    assert serde.parse_event(obj).type == UPDATED


def test_incident_update_previous_priority_needs_priority(expect_error: ExpectError) -> None:
    expect_error(
        UPDATED, setter(previous_priority="P3"), "/data/previous_priority", "only meaningful"
    )


def test_incident_update_own_child(expect_error: ExpectError) -> None:
    expect_error(UPDATED, setter(children_attached=["inc-7f3a9c"]), "/data", "its own child")


# --- SLA -----------------------------------------------------------------------------------

SLA_TYPES = sorted(cls.event_type for cls in sla.EVENTS)
CLOCK_TYPES = sorted(cls.event_type for cls in sla.EVENTS if issubclass(cls, sla.SlaClockEvent))
CLOCK_IDENTITY = set(sla.SlaClockEvent.model_fields)


def test_only_the_monthly_report_is_not_about_a_clock() -> None:
    assert set(SLA_TYPES) - set(CLOCK_TYPES) == {"msp.sla.monthly_report.v1"}


@pytest.mark.parametrize("event_type", CLOCK_TYPES)
def test_every_sla_event_carries_the_clock_identity(
    event_type: str, samples: dict[str, Envelope]
) -> None:
    data = samples[event_type].data
    assert isinstance(data, sla.SlaClockEvent)
    assert {
        "clock_id",
        "ticket_id",
        "metric",
        "cycle",
        "priority",
        "contract_id",
        "contract_version",
        "timezone",
    } == CLOCK_IDENTITY
    assert set(type(data).model_fields) >= CLOCK_IDENTITY


@pytest.mark.parametrize(
    ("event_type", "values", "pointer", "message"),
    [
        (
            "msp.sla.clock_started.v1",
            {"due_at": "2026-03-10T02:00:00Z"},
            "/data/due_at",
            "must not be before started_at",
        ),
        (
            "msp.sla.clock_resumed.v1",
            {"due_at": "2026-03-10T09:00:00Z"},
            "/data/due_at",
            "must not be before resumed_at",
        ),
        (
            "msp.sla.breached.v1",
            {"breached_at": "2026-03-11T15:59:59Z"},
            "/data/breached_at",
            "must not be before due_at",
        ),
        (
            "msp.sla.met.v1",
            {"elapsed_business_seconds": 1801},
            "/data/target_business_seconds",
            "that is a breach",
        ),
        (
            "msp.sla.warning.v1",
            {"threshold_percent": 100},
            "/data/threshold_percent",
            "less than or equal to 99",
        ),
        (
            "msp.sla.escalated.v1",
            {"threshold_percent": 100},
            "/data/threshold_percent",
            "greater than or equal to 101",
        ),
        (
            "msp.sla.escalated.v1",
            {"at": "2026-03-12T11:59:59Z"},
            "/data/at",
            "must not be before due_at",
        ),
        ("msp.sla.escalated.v1", {"timezone": None}, "/data/timezone", "Field required"),
        ("msp.sla.warning.v1", {"timezone": "Mars/Olympus"}, "/data/timezone", "unknown IANA"),
        (
            "msp.sla.outcome_corrected.v1",
            {"threshold_percent": 1001},
            "/data/threshold_percent",
            "less than or equal to 1000",
        ),
        (
            "msp.sla.monthly_report.v1",
            {"breaches_total": 0},
            "/data/breaches_total",
            "must count at least the breaches listed",
        ),
        (
            "msp.sla.monthly_report.v1",
            {"csv": "x" * (sla.MAX_REPORT_CSV + 1)},
            "/data/csv",
            "at most 400000 characters",
        ),
        ("msp.sla.monthly_report.v1", {"month": "2026-13"}, "/data/month", ""),
        ("msp.sla.clock_paused.v1", {"status": "resolved"}, "/data/status", ""),
        ("msp.sla.clock_cancelled.v1", {"metric": "uptime"}, "/data/metric", ""),
        ("msp.sla.clock_cancelled.v1", {"cycle": 0}, "/data/cycle", "greater than or equal to 1"),
    ],
)
def test_sla_rules(
    event_type: str, values: dict[str, Any], pointer: str, message: str, expect_error: ExpectError
) -> None:
    expect_error(event_type, setter(**values), pointer, message)


def test_sla_events_written_before_the_time_zone_still_parse(
    samples: dict[str, Envelope],
) -> None:
    obj = samples["msp.sla.breached.v1"].model_dump(mode="json", by_alias=True)
    del obj["data"]["timezone"]
    data = serde.parse_event(obj).data
    assert isinstance(data, sla.SlaBreached) and data.timezone is None


# --- billing -------------------------------------------------------------------------------

LINE_ITEM = "msp.billing.line_item_recorded.v1"
INVOICE = "msp.billing.invoice_issued.v1"
CREDIT = "msp.billing.credit_note_issued.v1"


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("0.125"), "GBP") == Decimal("0.13")  # half-even: 0.12
    assert round_money(Decimal("-0.125"), "GBP") == Decimal("-0.13")
    assert line_amount(Decimal("3"), Decimal("0.335"), "USD") == Decimal("1.01")  # 1.005
    assert price(Decimal("95.00"), Decimal("1.5"), 50, "GBP") == Decimal("118.75")
    assert price(Decimal("100"), Decimal("1"), 1, "USD") == Decimal("1.67")  # 1.666...
    assert price(Decimal("12750"), Decimal("1.5"), 15, "JPY") == Decimal("4781")  # .25
    assert price(Decimal("12750"), Decimal("1"), 30, "JPY") == Decimal("6375")
    assert price(Decimal("12750"), Decimal("1.75"), 15, "JPY") == Decimal("5578")  # .125
    assert line_amount(Decimal("1"), Decimal("0.0005"), "KWD") == Decimal("0.001")


def test_huge_amounts_are_validation_errors_not_crashes(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["lines"][0].update(quantity="99999999999999.9999", unit_amount="99999999999999.9999")

    expect_error(INVOICE, mutate, "/data/lines/0/line_amount", "line_amount")


def _invoice_line(**changes: Any) -> dict[str, Any]:
    line = {
        "line_id": "l1",
        "description": "d",
        "quantity": "1",
        "unit_amount": "0.125",
        "line_amount": "0.13",
        "currency": "GBP",
        "classification": "flat_fee",
    }
    line.update(changes)
    return line


def test_invoice_line_amount_must_be_quantity_times_unit() -> None:
    assert InvoiceLine.model_validate(_invoice_line()).line_amount == Decimal("0.13")
    with pytest.raises(ValidationError, match=r"line_amount 0\.12 != .* = 0\.13"):
        InvoiceLine.model_validate(_invoice_line(line_amount="0.12"))


def test_invoice_line_wrong_amount_pointer(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["lines"][1]["line_amount"] = "142.49"

    expect_error(INVOICE, mutate, "/data/lines/1/line_amount", "quantity x unit_amount")


def test_work_line_must_name_its_line_items() -> None:
    with pytest.raises(ValidationError, match="needs source_line_item_ids"):
        InvoiceLine.model_validate(_invoice_line(classification="project"))
    line = InvoiceLine.model_validate(
        _invoice_line(classification="project", source_line_item_ids=["li"])
    )
    assert line.classification == "project"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"subtotal": "2122.49", "total": "2546.99"},
            "subtotal 2122.49 != sum of line amounts 2122.50",
        ),
        ({"total": "2547.01"}, "total 2547.01 != subtotal + tax_total = 2547.00"),
        ({"currency": "EUR"}, "all lines must be in EUR; found GBP"),
    ],
)
def test_invoice_totals_must_add_up(
    values: dict[str, Any], message: str, expect_error: ExpectError
) -> None:
    expect_error(INVOICE, setter(**values), "/data", message)


def test_invoice_line_ids_are_unique(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["lines"][1]["line_id"] = data["lines"][0]["line_id"]

    expect_error(INVOICE, mutate, "/data", "line_id values must be unique")


def test_invoice_period_pattern(expect_error: ExpectError) -> None:
    expect_error(INVOICE, setter(period="2026-13"), "/data/period", "pattern")


def test_credit_note_total_must_add_up(expect_error: ExpectError) -> None:
    expect_error(CREDIT, setter(total="98.00"), "/data", "total 98.00 != sum of line amounts 99.00")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"amount": "142.51"}, "amount 142.51 != rate x multiplier x minutes_billed / 60 = 142.50"),
        (
            {"classification": "covered"},
            "'covered' is not billed: amount and minutes_billed must be 0",
        ),
        ({"classification": "warranty", "amount": "0"}, "'warranty' is not billed"),
        ({"entry_id": None, "ticket_id": None}, "entry_id or ticket_id is required"),
        ({"contract_version": None}, "contract_id and contract_version go together"),
        ({"work_date": "2026-02-27"}, "outside period 2026-03 (set prior_period"),
        ({"prior_period": True}, "prior_period work must be dated before the billing period"),
    ],
)
def test_line_item_rules(values: dict[str, Any], message: str, expect_error: ExpectError) -> None:
    expect_error(LINE_ITEM, setter(**values), "/data", message)


@pytest.mark.parametrize(
    "values",
    [
        {"classification": "covered", "amount": "0", "minutes_billed": 0},
        {"classification": "held_review", "amount": "0", "minutes_billed": 0},
        {"work_date": "2026-02-27", "prior_period": True},
        {"multiplier": "1.5", "amount": "213.75"},
    ],
)
def test_line_item_valid_variations(values: dict[str, Any], sample_obj: Any) -> None:
    obj = sample_obj(LINE_ITEM)
    obj["data"].update(values)
    assert serde.parse_event(obj).type == LINE_ITEM


def test_money_never_accepts_float_noise(expect_error: ExpectError) -> None:
    # 4 decimal places at most: a float's binary noise is an error, not silently kept.
    expect_error(LINE_ITEM, setter(rate="95.000000001"), "/data/rate", "decimal places")


# --- dead letters ------------------------------------------------------------------------

DEAD = "msp.deadletter.recorded.v1"


def test_dead_letter_keeps_the_exact_bytes() -> None:
    raw = b"\x00\xff not json \xe2\x82"
    dl = DeadLetterRecorded.from_record(
        topic="t",
        partition=0,
        offset=7,
        key=b"\xfe",
        value=raw,
        headers=[("h", b"\x01\x02")],
        reason="bad",
        error_pointer=None,
        consumer_group="g",
        service="s",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    event = serde.make_event(
        dl,
        customer_id=dead_letter_customer_id(dl.original_key()),
        source="/test",
        time=datetime(2026, 3, 1, tzinfo=UTC),
    )
    decoded = serde.decode(serde.encode(event).value).data
    assert isinstance(decoded, DeadLetterRecorded)
    assert decoded.original_value() == raw
    assert decoded.original_key() == b"\xfe"
    assert decoded.original_headers == {"h": base64.b64encode(b"\x01\x02").decode()}
    assert event.customer_id == UNKNOWN_CUSTOMER


def test_dead_letter_of_a_tombstone() -> None:
    dl = DeadLetterRecorded.from_record(
        topic="t",
        partition=0,
        offset=1,
        key=None,
        value=None,
        headers=None,
        reason="tombstone",
        error_pointer="",
        consumer_group="g",
        service="s",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert (dl.original_value(), dl.original_key(), dl.original_headers) == (b"", None, None)


@pytest.mark.parametrize(
    ("key", "customer_id"),
    [
        (b"cust-acme", "cust-acme"),
        (None, UNKNOWN_CUSTOMER),
        (b"", UNKNOWN_CUSTOMER),
        (b"not a customer", UNKNOWN_CUSTOMER),
        (b"\xff\xfe", UNKNOWN_CUSTOMER),
        (b"x" * 129, UNKNOWN_CUSTOMER),
    ],
)
def test_dead_letter_customer_id(key: bytes | None, customer_id: str) -> None:
    assert dead_letter_customer_id(key) == customer_id


@pytest.mark.parametrize(
    ("values", "pointer", "message"),
    [
        ({"original_value_b64": "not base64!"}, "/data/original_value_b64", "standard base64"),
        ({"original_key_b64": "abc"}, "/data/original_key_b64", "standard base64"),
        ({"original_headers": {"h": "@@"}}, "/data/original_headers/h", "standard base64"),
        ({"original_value_b64": "zé=="}, "/data/original_value_b64", "standard base64"),
        ({"error_pointer": "data/ticket_id"}, "/data/error_pointer", "pattern"),
        ({"original_offset": -1}, "/data/original_offset", "greater than or equal to 0"),
    ],
)
def test_dead_letter_rules(
    values: dict[str, Any], pointer: str, message: str, expect_error: ExpectError
) -> None:
    expect_error(DEAD, setter(**values), pointer, message)


def test_an_amount_finer_than_the_minor_unit_is_refused_naming_the_field(
    expect_error: ExpectError,
) -> None:
    expect_error(INVOICE, lambda d: d.update(tax_total="0.005"), "/data/tax_total", "minor unit")

    def yen_line(data: dict[str, Any]) -> None:  # 1 x 0.5 JPY rounds to 1 yen, not 0.50
        data["currency"] = "JPY"
        data["lines"] = [_invoice_line(currency="JPY", unit_amount="0.5", line_amount="0.50")]

    expect_error(CREDIT, yen_line, "/data/lines/0/line_amount", "JPY's minor unit = 1")


def test_amounts_at_another_scale_are_accepted_and_written_at_the_minor_unit(
    sample_obj: Callable[[str], dict[str, Any]],
) -> None:
    """What was written before the rule ("300.000", "0") still parses, unchanged in
    value, and is written back at the currency's scale."""
    obj = sample_obj(LINE_ITEM)
    obj["data"].update(classification="covered", minutes_billed=0, amount="0", rate="95.000")
    data = serde.to_json_obj(serde.parse_event(obj))["data"]
    assert (data["amount"], data["rate"]) == ("0.00", "95.00")
