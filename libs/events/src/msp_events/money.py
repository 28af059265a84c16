"""Money on the finance topics: one scale per currency, one rounding rule.

* **Amounts** (what is charged or credited: a line item's `amount`, an invoice line's
  `line_amount`, `subtotal`, `tax_total`, `total`) are whole numbers of the currency's
  ISO 4217 minor unit, and are written with exactly that many decimal places: JPY
  ``"74250"``, USD ``"300.00"``, KWD ``"1.250"``. An amount finer than the minor unit
  (``"1.005"`` USD, ``"4781.25"`` JPY) is invalid.
* **Unit prices** (hourly `rate`, `unit_amount`) may be finer than the minor unit: up to
  `UNIT_PRICE_PLACES` (4) decimal places; they are written with at least the currency's
  minor-unit places and without trailing zeros beyond them (``"95.00"``, ``"142.50"``,
  ``"0.1234"``, JPY ``"8250"``).
* **Rounding** is `ROUNDING` (half-up: 0.125 -> 0.13, -0.125 -> -0.13), once per line,
  to the minor unit (`round_amount`). Totals are exact sums of the rounded lines, so
  they always add up.

The minor units are ISO 4217's: `MINOR_UNITS` lists every currency whose minor unit is
not 2; every other code (USD, EUR, GBP, AUD ...) has 2.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

ROUNDING = ROUND_HALF_UP
DEFAULT_MINOR_UNIT = 2
UNIT_PRICE_PLACES = 4

MINOR_UNITS: dict[str, int] = {
    # no minor unit
    **dict.fromkeys(
        [
            *("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"),
            *("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"),
        ],
        0,
    ),
    # thousandths
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    # ten-thousandths (units of account)
    **dict.fromkeys(["CLF", "UYW"], 4),
}
"""ISO 4217 currencies whose minor unit is not `DEFAULT_MINOR_UNIT` (2)."""

# Wide enough that products of two Money-sized values (18 digits each) are exact, so
# the only rounding is the explicit one to the minor unit (the default has 28 digits).
WIDE = Context(prec=80, rounding=ROUNDING)


def minor_unit(currency: str) -> int:
    """Decimal places of `currency`'s minor unit (JPY 0, USD 2, KWD 3)."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNIT)


@functools.lru_cache(maxsize=512)
def quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal exponent: JPY 1, USD 0.01, KWD 0.001."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_amount(value: Decimal, currency: str) -> Decimal:
    """`value` rounded half-up to `currency`'s minor unit: the one rounding of every
    amount billing emits."""
    with localcontext(WIDE):
        return value.quantize(quantum(currency))


def is_amount(value: Decimal, currency: str) -> bool:
    """Whether `value` is a whole number of `currency`'s minor units."""
    with localcontext(WIDE):
        return value == value.quantize(quantum(currency))


def amount_text(value: Decimal, currency: str) -> str:
    """How an amount is written: exactly the minor unit's places (``"0.00"``, JPY
    ``"74250"``). Validation guarantees `value` is a whole number of minor units, so
    this never rounds."""
    return _written(_amount_text, value, currency)


def unit_price_text(value: Decimal, currency: str) -> str:
    """How a unit price is written: at least the minor unit's places, at most
    `UNIT_PRICE_PLACES`, no trailing zeros beyond the minor unit."""
    return _written(_unit_price_text, value, currency)


def _written(write: Any, value: Decimal, currency: str) -> str:
    # The text depends on the value and its sign only (equal Decimals written at another
    # exponent give the same text; -0 and 0 are equal but written apart), and the same
    # few rates and amounts are written again and again: every line item's JSON.
    try:
        text: str = write(value, value.is_signed(), currency)
    except TypeError:  # unhashable (a signalling NaN): written, never cached
        text = write.__wrapped__(value, value.is_signed(), currency)
    return text


@functools.lru_cache(maxsize=8192)
def _amount_text(value: Decimal, signed: bool, currency: str) -> str:
    with localcontext(WIDE):
        return format(value.quantize(quantum(currency)), "f")


@functools.lru_cache(maxsize=8192)
def _unit_price_text(value: Decimal, signed: bool, currency: str) -> str:
    places = minor_unit(currency)
    exponent = value.normalize().as_tuple().exponent
    significant = -exponent if isinstance(exponent, int) else 0
    with localcontext(WIDE):
        return format(value.quantize(Decimal(1).scaleb(-max(places, significant))), "f")


def amount_error(value: Decimal, currency: str) -> str | None:
    """Why `value` is not an amount in `currency`, or None."""
    if is_amount(value, currency):
        return None
    return (
        f"{value} {currency} is finer than the currency's minor unit "
        f"({minor_unit(currency)} decimal places)"
    )


# --- the JSON Schema of the rule ----------------------------------------------------

_INTEGER = r"-?(0|[1-9][0-9]*)"


def amount_pattern(places: int) -> str:
    return f"^{_INTEGER}$" if places == 0 else rf"^{_INTEGER}\.[0-9]{{{places}}}$"


def unit_price_pattern(places: int) -> str:
    if places == 0:
        return rf"^{_INTEGER}(\.[0-9]{{1,{UNIT_PRICE_PLACES}}})?$"
    return rf"^{_INTEGER}\.[0-9]{{{places},{max(places, UNIT_PRICE_PLACES)}}}$"


AMOUNT_DESCRIPTION = (
    "Amount in `currency`, written with exactly the currency's ISO 4217 minor-unit "
    "decimal places (JPY 0, USD/EUR/GBP 2, BHD/KWD 3); rounded half-up once per line"
)
UNIT_PRICE_DESCRIPTION = (
    "Unit price in `currency`: at least the currency's minor-unit decimal places, at most "
    f"{UNIT_PRICE_PLACES}"
)


def currency_rules(*, amounts: tuple[str, ...], unit_prices: tuple[str, ...] = ()) -> Any:
    """JSON Schema `allOf` entries tying the named fields' patterns to the sibling
    `currency`: one if/then per minor unit (the default's `if` is every other code)."""
    rules = []
    special = sorted(MINOR_UNITS)
    for places in sorted({*MINOR_UNITS.values(), DEFAULT_MINOR_UNIT}):
        if places == DEFAULT_MINOR_UNIT:
            currencies: dict[str, Any] = {"not": {"enum": special}}
        else:
            currencies = {"enum": sorted(c for c in special if MINOR_UNITS[c] == places)}
        then = {f: {"pattern": amount_pattern(places)} for f in amounts}
        then |= {f: {"pattern": unit_price_pattern(places)} for f in unit_prices}
        rules.append(
            {
                "if": {"properties": {"currency": currencies}, "required": ["currency"]},
                "then": {"properties": then},
            }
        )
    return rules
