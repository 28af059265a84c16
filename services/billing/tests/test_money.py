"""Money on the finance topics, over currencies (property test): every amount billing
emits is written at its currency's ISO 4217 minor unit (JPY "74250", USD "300.00", KWD
"1.250"), unit prices carry at least that and at most 4 places, every line's amount is
reproducible from its own written quantity and unit price (half-up), totals are exact
sums of the written lines, and every record validates against the published schema
with format checking on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from billing_factory import contract, entry, managed_ny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from billing.classification import Decision
from billing.credit_notes import build_credit_note
from billing.invoice import AccountingCodes, build_invoice
from billing.line_items import build_line_items
from msp_events import make_event
from msp_events.money import MINOR_UNITS, minor_unit
from msp_events.serde import to_json_obj
from msp_events.types.billing import LineItemRecorded

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "events" / "schemas"
VALIDATORS = {
    p.stem: Draft202012Validator(
        json.loads(p.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for p in SCHEMAS.glob("msp.billing.*.json")
}
CURRENCIES = sorted({"USD", "EUR", "GBP", "AUD", *MINOR_UNITS})
DECISIONS = [
    Decision("project", "approved_change_order", "authorised project work", "CO-1"),
    Decision("on_demand", "out_of_contract", "billable on demand"),
    Decision("covered", "covered_category", "in the flat fee"),
    Decision("warranty", "warranty_claim", "vendor RMA"),
]
MARCH = datetime(2026, 3, 2, 13, tzinfo=UTC)


def places(text: str) -> int:
    whole, _, fraction = text.partition(".")
    assert whole.lstrip("-").isdigit() and (fraction.isdigit() or not fraction), text
    return len(fraction)


def money(draw: st.DrawFn, high: int) -> Decimal:
    """A price with 0..4 decimal places, as a contract may state it (at least 1, so the
    month always has a fee line to invoice)."""
    return draw(st.decimals(min_value=1, max_value=high, places=4)).normalize()


@st.composite
def billing_month(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(CURRENCIES))
    rates = {
        "currency": currency,
        "standard_hourly": money(draw, 20_000),
        "after_hours_multiplier": Decimal("1"),
        "weekend_multiplier": Decimal("1"),
        "holiday_multiplier": Decimal("1"),
        "emergency_multiplier": draw(st.sampled_from([Decimal("1.5"), Decimal("1.75")])),
        "minimum_minutes": draw(st.sampled_from([0, 15, 30])),
        "increment_minutes": draw(st.sampled_from([1, 6, 15])),
    }
    per_device = {"model": "per_device", "unit_price": money(draw, 9_000), "devices": 9}
    fixed = {"model": "fixed", "amount": money(draw, 500_000)}
    change = datetime(2026, 3, draw(st.integers(2, 31)), 4, tzinfo=UTC)  # mid-month
    state = contract(
        managed_ny(rates=rates, flat_fee=per_device),
        managed_ny(rates=rates, flat_fee=fixed, effective_from=change),
    )
    work = draw(
        st.lists(
            st.tuples(st.integers(0, 26 * 24), st.integers(1, 600), st.booleans()),
            min_size=1,
            max_size=6,
        )
    )
    return {"currency": currency, "contract": state, "work": work}


def emitted(month: dict[str, Any], decisions: list[Decision]) -> list[dict[str, Any]]:
    """Every billing record of the month, as written: line items, invoice, credit note."""
    items: list[LineItemRecorded] = []
    for n, (hours, minutes, emergency) in enumerate(month["work"]):
        work = entry(MARCH + timedelta(hours=hours), minutes, emergency=emergency)
        lines = build_line_items(
            work,
            source_event_id=f"te-{n}",
            decision=decisions[n % len(decisions)],
            contract=month["contract"],
            last_closed=None,
        )
        for line in lines:  # the trusted hot path builds exactly what validation would
            validated = LineItemRecorded.model_validate(line.model_dump())
            assert validated.model_dump_json() == line.model_dump_json()
        items += lines
    invoice = build_invoice(
        customer_id="cust-1",
        period="2026-03",
        contract=month["contract"],
        items=items,
        issued_at=datetime(2026, 4, 1, tzinfo=UTC),
        codes=AccountingCodes(),
    )
    assert invoice is not None  # the flat fee is always there
    note, _ = build_credit_note(
        invoice,
        line_ids=[line.line_id for line in invoice.lines[-2:]],
        reason="billing correction",
        issued_at=datetime(2026, 4, 2, tzinfo=UTC),
    )
    events = [*items, invoice, note]
    return [
        to_json_obj(make_event(e, customer_id="cust-1", source="/billing", time=MARCH))
        for e in events
    ]


def check_line(line: dict[str, Any], scale: int) -> None:
    assert places(line["line_amount"]) == scale, line
    assert scale <= places(line["unit_amount"]) <= max(scale, 4), line
    product = Decimal(line["quantity"]) * Decimal(line["unit_amount"])
    assert Decimal(line["line_amount"]) == product.quantize(
        Decimal(1).scaleb(-scale), ROUND_HALF_UP
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(month=billing_month(), shift=st.integers(0, 3))
def test_every_amount_is_at_the_currency_minor_unit_and_totals_add_up(
    month: dict[str, Any], shift: int
) -> None:
    scale = minor_unit(month["currency"])
    records = emitted(month, DECISIONS[shift:] + DECISIONS[:shift])
    for record in records:
        errors = [e.message for e in VALIDATORS[record["type"]].iter_errors(record)]
        assert errors == [], (record["type"], errors)
        data = record["data"]
        assert data["currency"] == month["currency"]
        if record["type"] == "msp.billing.line_item_recorded.v1":
            assert places(data["amount"]) == scale, data
            assert scale <= places(data["rate"]) <= max(scale, 4), data
            continue
        for line in data["lines"]:
            check_line(line, scale)
        line_sum = sum(Decimal(line["line_amount"]) for line in data["lines"])
        assert places(data["total"]) == scale
        if record["type"] == "msp.billing.invoice_issued.v1":
            assert places(data["subtotal"]) == scale and places(data["tax_total"]) == scale
            assert Decimal(data["subtotal"]) == line_sum
            assert Decimal(data["total"]) == line_sum + Decimal(data["tax_total"])
        else:
            assert Decimal(data["total"]) == line_sum


def test_yen_are_whole_and_dollars_have_cents() -> None:
    """The two cases finance tripped over, by name: JPY 74250 (not "74250.00") next to
    its unit price 8250, and a zero line item written "0.00" in USD (not "0")."""
    rates = {
        "currency": "JPY",
        "standard_hourly": Decimal("12750"),
        "after_hours_multiplier": Decimal("1"),
        "weekend_multiplier": Decimal("1"),
        "holiday_multiplier": Decimal("1"),
        "emergency_multiplier": Decimal("1.5"),
        "minimum_minutes": 15,
        "increment_minutes": 15,
    }
    fee = {"model": "per_device", "unit_price": Decimal("8250"), "devices": 9}
    month = {"currency": "JPY", "contract": contract(managed_ny(rates=rates, flat_fee=fee))}
    month["work"] = [(0, 15, True)]  # 12750 x 1.5 / 4 = 4781.25 -> 4781 (half-up)
    records = emitted(month, [DECISIONS[1]])
    item, invoice = records[0]["data"], records[1]["data"]
    assert (item["rate"], item["amount"]) == ("12750", "4781")
    fee_line = invoice["lines"][0]
    assert (fee_line["unit_amount"], fee_line["line_amount"]) == ("8250", "74250")
    assert invoice["total"] == "79031"

    usd = {**rates, "currency": "USD", "standard_hourly": Decimal("95")}
    month = {"currency": "USD", "contract": contract(managed_ny(rates=usd, flat_fee=fee))}
    month["work"] = [(0, 20, False)]
    covered = emitted(month, [DECISIONS[2]])[0]["data"]
    assert (covered["rate"], covered["amount"]) == ("95.00", "0.00")
