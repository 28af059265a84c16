"""The money rule of the finance topics (`msp_events.money`): ISO 4217 minor units,
half-up rounding, how amounts and unit prices are written, and the JSON Schema that
says so (checked with the real `jsonschema` validator)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from msp_events import money
from msp_events.money import amount_text, minor_unit, round_amount, unit_price_text

CURRENCIES = sorted({"USD", "EUR", "GBP", "AUD", "CHF", *money.MINOR_UNITS})


@pytest.mark.parametrize(
    ("currency", "places"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("GBP", 2), ("BHD", 3), ("KWD", 3)],
)
def test_minor_units_are_iso_4217(currency: str, places: int) -> None:
    assert minor_unit(currency) == places


def test_rounding_is_half_up_once_to_the_minor_unit() -> None:
    assert round_amount(Decimal("4781.5"), "JPY") == Decimal("4782")
    assert round_amount(Decimal("4781.25"), "JPY") == Decimal("4781")
    assert round_amount(Decimal("0.125"), "USD") == Decimal("0.13")  # half-even: 0.12
    assert round_amount(Decimal("-0.125"), "USD") == Decimal("-0.13")
    assert round_amount(Decimal("1.0005"), "KWD") == Decimal("1.001")


@pytest.mark.parametrize(
    ("value", "currency", "written"),
    [
        ("0", "USD", "0.00"),
        ("2.5", "EUR", "2.50"),
        ("300.000", "GBP", "300.00"),
        ("74250.00", "JPY", "74250"),
        ("1.25", "KWD", "1.250"),
    ],
)
def test_amounts_are_written_at_the_minor_unit(value: str, currency: str, written: str) -> None:
    assert amount_text(Decimal(value), currency) == written


@pytest.mark.parametrize(
    ("value", "currency", "written"),
    [
        ("95", "USD", "95.00"),
        ("142.500", "USD", "142.50"),
        ("0.1234", "USD", "0.1234"),
        ("8250", "JPY", "8250"),
        ("8250.00", "JPY", "8250"),
        ("12.5", "JPY", "12.5"),
        ("1E+2", "KWD", "100.000"),
    ],
)
def test_unit_prices_keep_up_to_four_places(value: str, currency: str, written: str) -> None:
    assert unit_price_text(Decimal(value), currency) == written


def _validator() -> Draft202012Validator:
    schema = {
        "type": "object",
        "allOf": money.currency_rules(amounts=("amount",), unit_prices=("unit",)),
    }
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@settings(max_examples=300, deadline=None)
@given(
    currency=st.sampled_from(CURRENCIES),
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=4),
)
def test_the_schema_accepts_what_is_written_and_nothing_at_another_scale(
    currency: str, value: Decimal
) -> None:
    validator = _validator()
    amount = round_amount(value, currency)
    written = {"currency": currency, "amount": amount_text(amount, currency)}
    written["unit"] = unit_price_text(value, currency)
    assert validator.is_valid(written), written
    places = minor_unit(currency)
    finer = format(amount.quantize(Decimal(1).scaleb(-places - 1)), "f")
    assert not validator.is_valid({**written, "amount": finer}), finer
    if places:
        coarser = format(amount.quantize(Decimal(1).scaleb(-places + 1)), "f")
        assert not validator.is_valid({**written, "amount": coarser}), coarser


@settings(max_examples=300, deadline=None)
@given(
    digits=st.integers(-(10**12), 10**12),
    places=st.integers(0, 4),
    pad=st.integers(0, 3),
    currency=st.sampled_from(["USD", "JPY", "KWD", "CLF"]),
)
def test_memoised_text_is_the_text_of_the_value_written_at_any_exponent(
    digits: int, places: int, pad: int, currency: str
) -> None:
    """Texts are memoised per (value, sign, currency): an equal value written at
    another exponent (95.0 / 95.00), or read again, gets the text computed from
    scratch; -0 keeps its sign."""
    value = Decimal(digits).scaleb(-places)
    wider = value.quantize(Decimal(1).scaleb(-(places + pad)))
    assert wider == value
    for v in (value, wider, -value, value):
        assert amount_text(v, currency) == money._amount_text.__wrapped__(
            v, v.is_signed(), currency
        )
        assert unit_price_text(v, currency) == money._unit_price_text.__wrapped__(
            v, v.is_signed(), currency
        )
    assert unit_price_text(Decimal("-0.00"), currency).startswith("-")
    assert not unit_price_text(Decimal("0"), currency).startswith("-")
