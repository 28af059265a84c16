"""Contract models: calendars, SLA policy, fees, the version history rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from msp_events import serde
from msp_events.samples import sample_contract_version
from msp_events.serde import FieldError
from msp_events.types.contracts import (
    BusinessCalendar,
    ContractSnapshot,
    ContractTerminated,
    ContractVersion,
    FlatFee,
    SlaPolicy,
    TimeRange,
)

SNAPSHOT = "msp.contract.snapshot.v1"
TERMINATED = "msp.contract.terminated.v1"
V0 = "/data/versions/0"

ExpectError = Callable[..., list[FieldError]]


def _version(**changes: Any) -> ContractVersion:
    return ContractVersion.model_validate({**sample_contract_version().model_dump(), **changes})


def _in_version(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0][key] = value

    return mutate


# --- the sample contract ---------------------------------------------------------------


def test_sample_contract_version_is_the_documented_one() -> None:
    v = sample_contract_version()
    assert (v.version, v.tier, v.timezone, v.rates.currency) == (
        1,
        "managed",
        "Europe/London",
        "GBP",
    )
    assert [t.priority for t in v.sla.targets] == ["P1", "P2", "P3", "P4", "P5"]
    assert set(v.calendar.weekly_hours) == {"mon", "tue", "wed", "thu", "fri"}
    assert v.calendar.weekly_hours["mon"] == [TimeRange(start=time(8), end=time(18))]
    assert v.calendar.is_holiday(date(2026, 12, 28))  # Boxing Day substitute
    assert not v.calendar.is_holiday(date(2026, 12, 26))
    assert len(v.calendar.holidays) == 8
    assert v == sample_contract_version()  # deterministic


# --- time ranges and calendars -----------------------------------------------------------


def test_time_range_end_of_day_is_written_24_00_and_read_back() -> None:
    r = TimeRange.model_validate({"start": "18:00", "end": "24:00"})
    assert r.end == time(0)
    assert (r.start_minute, r.end_minute) == (18 * 60, 24 * 60)
    assert r.model_dump(mode="json") == {"start": "18:00", "end": "24:00"}
    assert TimeRange.model_validate(r.model_dump(mode="json")) == r


def test_time_range_midnight_to_midnight_is_a_whole_day() -> None:
    r = TimeRange(start=time(0), end=time(0))
    assert (r.start_minute, r.end_minute) == (0, 1440)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("18:00", "08:00", "end must be after start"),
        ("08:00", "08:00", "end must be after start"),
        ("08:00:30", "18:00", "whole minutes"),
        ("08:00", "18:00+01:00", "without a UTC offset"),
        ("25:00", "26:00", "Input should be in a valid time format"),
    ],
)
def test_time_range_rejects(start: str, end: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeRange.model_validate({"start": start, "end": end})


def test_time_range_error_names_the_end(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0]["calendar"]["weekly_hours"]["mon"][0]["end"] = "07:00"

    expect_error(SNAPSHOT, mutate, f"{V0}/calendar/weekly_hours/mon/0/end", "after start")


def test_overlapping_business_hours_are_rejected() -> None:
    with pytest.raises(ValidationError, match="mon: ranges 08:00-12:30 and 12:00-18:00 overlap"):
        BusinessCalendar.model_validate(
            {
                "weekly_hours": {
                    "mon": [{"start": "12:00", "end": "18:00"}, {"start": "08:00", "end": "12:30"}]
                }
            }
        )


def test_touching_ranges_are_allowed_and_sorted() -> None:
    cal = BusinessCalendar.model_validate(
        {
            "weekly_hours": {
                "sat": [{"start": "09:00", "end": "12:00"}],
                "mon": [{"start": "13:00", "end": "18:00"}, {"start": "08:00", "end": "13:00"}],
            }
        }
    )
    assert list(cal.weekly_hours) == ["mon", "sat"]  # calendar order
    assert [r.start for r in cal.weekly_hours["mon"]] == [time(8), time(13)]


def test_unknown_weekday_is_rejected(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0]["calendar"]["weekly_hours"]["monday"] = []

    expect_error(SNAPSHOT, mutate, f"{V0}/calendar/weekly_hours/monday/[key]")


def test_duplicate_holiday_is_rejected() -> None:
    with pytest.raises(ValidationError, match="duplicate holiday date: 2026-12-25"):
        BusinessCalendar.model_validate(
            {
                "holidays": [
                    {"date": "2026-12-25", "name": "Christmas"},
                    {"date": "2026-12-25", "name": "x"},
                ]
            }
        )


# --- SLA policy --------------------------------------------------------------------------


def _target(priority: str, response: int = 30, resolution: int = 240) -> dict[str, Any]:
    return {
        "priority": priority,
        "first_response_minutes": response,
        "resolution_minutes": resolution,
        "coverage": "24x7",
    }


def test_sla_policy_defaults_and_lookup() -> None:
    policy = SlaPolicy.model_validate({"targets": [_target("P3"), _target("P1", 15)]})
    assert policy.pause_statuses == ["waiting_on_customer", "pending_vendor"]
    assert policy.warning_thresholds_percent == [75, 90]
    assert policy.priority_change_rule == "keep_elapsed"
    assert [t.priority for t in policy.targets] == ["P1", "P3"]
    target = policy.target_for("P1")
    assert target is not None
    assert target.first_response_minutes == 15
    assert policy.target_for("P5") is None


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"targets": [_target("P1"), _target("P1")]}, "duplicate priority: P1"),
        ({"targets": []}, "at least 1 item"),
        ({"targets": [_target("P1", 60, 30)]}, "resolution_minutes must be >= first_response"),
        ({"targets": [_target("P1", 0)]}, "greater than 0"),
        (
            {"targets": [_target("P1")], "warning_thresholds_percent": [90, 75]},
            "strictly ascending",
        ),
        (
            {"targets": [_target("P1")], "warning_thresholds_percent": [100]},
            "less than or equal to 99",
        ),
        ({"targets": [_target("P1")], "pause_statuses": ["resolved"]}, "Input should be"),
        ({"targets": [_target("P1")], "priority_change_rule": "reset"}, "Input should be"),
    ],
)
def test_sla_policy_rejects(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlaPolicy.model_validate(policy)


def test_duplicate_priority_pointer(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        targets = data["versions"][0]["sla"]["targets"]
        targets.append(targets[0])

    expect_error(SNAPSHOT, mutate, f"{V0}/sla/targets", "duplicate priority: P1")


# --- fees and rates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "message"),
    [
        ({"model": "fixed"}, "model 'fixed' needs amount"),
        ({"model": "fixed", "amount": "10", "unit_price": "1"}, "takes amount, not unit_price"),
        ({"model": "per_user", "unit_price": "45"}, "model 'per_user' needs users"),
        (
            {"model": "per_device", "unit_price": "45", "users": 3},
            "model 'per_device' needs devices",
        ),
        ({"model": "per_user", "users": 3}, "needs unit_price"),
        ({"model": "per_user", "users": 3, "unit_price": "4", "amount": "12"}, "takes unit_price"),
        ({"model": "per_user", "users": 3, "unit_price": "-4"}, "greater than or equal to 0"),
    ],
)
def test_flat_fee_needs_the_fields_of_its_model(fee: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FlatFee.model_validate(fee)


@pytest.mark.parametrize(
    ("fee", "monthly"),
    [
        ({"model": "fixed", "amount": "1200.00"}, Decimal("1200.00")),
        ({"model": "per_user", "unit_price": "45.00", "users": 38}, Decimal("1710.00")),
        (
            {"model": "per_device", "unit_price": "12.50", "devices": 7, "users": 2},
            Decimal("87.50"),
        ),
    ],
)
def test_flat_fee_monthly_amount(fee: dict[str, Any], monthly: Decimal) -> None:
    assert FlatFee.model_validate(fee).monthly_amount() == monthly


def test_flat_fee_missing_count_pointer(expect_error: ExpectError) -> None:
    expect_error(
        SNAPSHOT,
        _in_version("flat_fee", {"model": "per_user", "unit_price": "45.00"}),
        f"{V0}/flat_fee",
        "needs users",
    )


def test_multiplier_below_one_is_rejected(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0]["rates"]["after_hours_multiplier"] = "0.5"

    expect_error(
        SNAPSHOT, mutate, f"{V0}/rates/after_hours_multiplier", "greater than or equal to 1"
    )


def test_money_is_decimal_and_a_string_on_the_wire(samples: dict[str, Any]) -> None:
    obj = serde.to_json_obj(samples[SNAPSHOT])
    assert obj["data"]["versions"][0]["rates"]["standard_hourly"] == "95.00"
    rates = sample_contract_version().rates
    assert isinstance(rates.standard_hourly, Decimal)


# --- whole versions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "pointer", "message"),
    [
        ("timezone", "Europe/Londres", f"{V0}/timezone", "unknown IANA time zone"),
        ("rationale", "   ", f"{V0}/rationale", "must not be blank"),
        ("rationale", "", f"{V0}/rationale", "at least 1 character"),
        ("effective_from", "2026-01-01T00:00:00", f"{V0}/effective_from", "timezone"),
        ("uptime_target_percent", "0", f"{V0}/uptime_target_percent", "greater than 0"),
        ("uptime_target_percent", "100.01", f"{V0}/uptime_target_percent", "less than or equal"),
        ("version", 0, f"{V0}/version", "greater than or equal to 1"),
        ("flat_fee", None, V0, "tier 'managed' needs a flat_fee"),
        ("project_categories", ["backup"], V0, "categories both covered and project: backup"),
        (
            "covered_categories",
            ["backup", "backup"],
            f"{V0}/covered_categories",
            "duplicate category",
        ),
        ("runbooks", {"printer_jam": "x"}, f"{V0}/runbooks/printer_jam/[key]", "Input should be"),
        (
            "excluded_assets",
            [{"asset_id": "a", "reason": "r"}] * 2,
            f"{V0}/excluded_assets",
            "duplicate asset_id: a",
        ),
    ],
)
def test_contract_version_rules(
    key: str, value: Any, pointer: str, message: str, expect_error: ExpectError
) -> None:
    expect_error(SNAPSHOT, _in_version(key, value), pointer, message)


def test_uptime_of_exactly_100_is_allowed() -> None:
    assert _version(uptime_target_percent="100").uptime_target_percent == 100


def test_business_hours_coverage_needs_business_hours() -> None:
    with pytest.raises(
        ValidationError, match=r"business_hours coverage needs calendar\.weekly_hours"
    ):
        _version(calendar={"weekly_hours": {}, "holidays": []})


def test_all_24x7_contract_needs_no_business_hours() -> None:
    targets = [_target(p) for p in ("P1", "P2")]
    v = _version(calendar={}, sla={"targets": targets})
    assert not v.calendar.has_business_hours


def test_on_demand_contract_needs_no_flat_fee() -> None:
    assert _version(tier="on_demand", flat_fee=None).flat_fee is None


def test_escalation_plan_must_ascend() -> None:
    plan = [step.model_dump() for step in sample_contract_version().escalation_plan]
    with pytest.raises(ValidationError, match="strictly ascending"):
        _version(escalation_plan=[plan[1], plan[0]])
    plan[1]["level"] = 1  # same level as the step before
    with pytest.raises(ValidationError, match="strictly ascending"):
        _version(escalation_plan=plan)


def test_maintenance_window_rules() -> None:
    window = sample_contract_version().maintenance_windows[0].model_dump()
    with pytest.raises(ValidationError, match="duplicate window_id"):
        _version(maintenance_windows=[window, window])
    with pytest.raises(ValidationError, match="scope is empty"):
        _version(maintenance_windows=[{**window, "scope": {}}])
    with pytest.raises(ValidationError, match="whole minutes"):
        _version(maintenance_windows=[{**window, "start": "01:00:30"}])


def test_is_excluded() -> None:
    v = sample_contract_version()
    assert v.is_excluded("ws-legacy-xp01")
    assert not v.is_excluded("srv-dc01")


# --- the version history -----------------------------------------------------------------


def _history(*specs: tuple[int, datetime]) -> list[dict[str, Any]]:
    base = sample_contract_version().model_dump()
    return [{**base, "version": n, "effective_from": at} for n, at in specs]


JAN = datetime(2026, 1, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("event_type", [SNAPSHOT, TERMINATED])
@pytest.mark.parametrize(
    ("history", "message"),
    [
        (_history((1, JAN), (3, MAR)), "without gaps; position 1 has version 3"),
        (_history((2, JAN)), "without gaps; position 0 has version 2"),
        (_history((2, MAR), (1, JAN)), "without gaps"),
        (_history((1, MAR), (2, JAN)), "version 2 is effective before version 1"),
        ([], "at least 1 item"),
    ],
)
def test_history_must_be_complete_and_ordered(
    event_type: str, history: list[dict[str, Any]], message: str, expect_error: ExpectError
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"] = _as_json(history)

    expect_error(event_type, mutate, "/data/versions", message)


def _as_json(versions: list[dict[str, Any]]) -> list[Any]:
    return [ContractVersion.model_validate(v).model_dump(mode="json") for v in versions]


def test_current_and_version_at() -> None:
    snap = ContractSnapshot(
        contract_id="c1",
        versions=[
            ContractVersion.model_validate(v) for v in _history((1, JAN), (2, MAR), (3, MAR))
        ],
    )
    assert snap.current.version == 3
    assert snap.version_at(JAN - timedelta(seconds=1)) is None
    at_jan = snap.version_at(JAN)
    assert at_jan is not None
    assert at_jan.version == 1
    before_mar = snap.version_at(MAR - timedelta(microseconds=1))
    assert before_mar is not None
    assert before_mar.version == 1
    at_mar = snap.version_at(MAR)  # v2 and v3 both start then: the correction wins
    assert at_mar is not None
    assert at_mar.version == 3


def test_terminated_cannot_predate_the_contract(expect_error: ExpectError) -> None:
    expect_error(
        TERMINATED,
        lambda data: data.__setitem__("effective_at", "2025-12-31T23:00:00Z"),
        "/data/effective_at",
        "before the contract's first version",
    )


def test_terminated_may_come_before_a_future_version() -> None:
    versions = [ContractVersion.model_validate(v) for v in _history((1, JAN), (2, MAR))]
    ended = ContractTerminated(
        contract_id="c1", versions=versions, effective_at=JAN + timedelta(days=20), reason="x"
    )
    assert ended.current.version == 2


# --- the published schema of local times says exactly what is written ----------------


def _published(field: str) -> str:
    """The pattern docs/events publishes for TimeRange.<field>."""
    from msp_events import catalogue

    pattern: str = catalogue.model_schema(TimeRange)["properties"][field]["pattern"]
    return pattern


@settings(max_examples=300, deadline=None)
@given(start=st.times().map(lambda t: t.replace(second=0, microsecond=0)), data=st.data())
def test_written_local_times_match_the_published_pattern_and_parse_back(
    start: time, data: st.DataObject
) -> None:
    start_minute = start.hour * 60 + start.minute
    end_minute = data.draw(st.integers(start_minute + 1, 24 * 60))
    end = time(0) if end_minute == 24 * 60 else time(end_minute // 60, end_minute % 60)
    written = TimeRange(start=start, end=end).model_dump(mode="json")
    assert re.fullmatch(_published("start"), written["start"])
    assert re.fullmatch(_published("end"), written["end"])
    assert (written["end"] == "24:00") == (end_minute == 24 * 60)
    assert TimeRange.model_validate(written) == TimeRange(start=start, end=end)


@pytest.mark.parametrize("text", ["8:00", "08:00:00", "24:00", "08:60", "08:00Z", "25:00"])
def test_start_pattern_refuses_what_is_never_written(text: str) -> None:
    assert not re.fullmatch(_published("start"), text)


def test_the_catalogue_refuses_a_bare_time_field() -> None:
    """pydantic would publish `format: time` (RFC 3339: seconds and an offset) for a
    naive time it writes as 08:00:00: the generator refuses instead of lying."""
    from pydantic import BaseModel

    from msp_events import catalogue

    class Shift(BaseModel):
        at: time

    with pytest.raises(TypeError, match="WithJsonSchema"):
        catalogue.model_schema(Shift)


# --- the contact directory -----------------------------------------------------------


def test_contact_with_a_bad_email_is_refused_naming_it(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0]["contacts"]["roles"]["customer_it_contact"][0]["email"] = "nobody"

    expect_error(SNAPSHOT, mutate, f"{V0}/contacts/roles/customer_it_contact/0/email", "pattern")


def test_contact_webhook_must_be_an_http_url(expect_error: ExpectError) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["versions"][0]["contacts"]["roles"]["customer_finance"][0]["webhook_url"] = "ftp://x"

    expect_error(SNAPSHOT, mutate, f"{V0}/contacts/roles/customer_finance/0/webhook_url")


def test_contract_without_contacts_still_parses() -> None:
    """The directory is additive: contracts written before it have none, and parse."""
    data = sample_contract_version().model_dump(mode="json")
    del data["contacts"]
    version = ContractVersion.model_validate(data)
    assert version.contacts.roles == {}
    assert version.contacts.report_roles == []


def test_contacts_for_a_role() -> None:
    contacts = sample_contract_version().contacts
    assert [c.email for c in contacts.contacts_for("customer_it_contact")] == [
        "it@customer.example"
    ]
    assert contacts.contacts_for("account_manager") == []
