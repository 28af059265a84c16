"""Billing events, on `msp.billing.line-items.v1` and `msp.billing.invoices.v1`.

Emitted by the billing service; consumed by finance (and its accounting system).
Every unit of work is classified and priced into a `LineItemRecorded`, with the rule
and reason that decided it; the monthly run turns them (plus the flat fee) into an
`InvoiceIssued`. Money is Decimal, written as a string by the rule of `msp_events.money`:
every amount at its currency's ISO 4217 minor unit (JPY "74250", USD "300.00"), rounded
half-up once per line, so a line's amount is reproducible from its own fields and totals
are exact sums; unit prices (`rate`, `unit_amount`) carry up to 4 decimal places.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext
from typing import Annotated, ClassVar, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from msp_events.base import (
    PLAIN_DECIMAL,
    Currency,
    EventData,
    Identifier,
    Money,
    NonNegativeMoney,
    Part,
    UtcDatetime,
)
from msp_events.bounds import Month
from msp_events.envelope import EventId
from msp_events.money import (
    AMOUNT_DESCRIPTION,
    UNIT_PRICE_DESCRIPTION,
    WIDE,
    amount_error,
    amount_text,
    currency_rules,
    round_amount,
    unit_price_text,
)

Classification = Literal[
    "covered", "project", "on_demand", "warranty", "scope_creep", "held_review", "overage"
]
"""How a unit of work is paid for:

* covered: included in the flat fee; billed at zero.
* project: project work (installs, upgrades, migrations ...), billed at the contract rates.
* on_demand: hourly work for an on-demand customer (or out-of-contract work), billed.
* warranty: vendor warranty work; not billed to the customer.
* scope_creep: out of scope and not authorised by a change order; not billed, reported.
* held_review: billing could not decide; a person must; not billed until then.
* overage: covered work beyond the contract's monthly included hours, billed at the
  contract's overage rate (`IncludedHours.overage_hourly`), multiplier 1.
"""

BILLED: frozenset[Classification] = frozenset({"project", "on_demand", "overage"})
"""Classifications that produce a charge; the others are recorded at zero."""

Period = Month
"""Billing month, YYYY-MM (from 2000-01 to 2099-12, `msp_events.bounds.Month`)."""

Quantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4), PLAIN_DECIMAL]
Multiplier = Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=4), PLAIN_DECIMAL]

MAX_MINUTES = 31 * 24 * 60
"""No single unit of work exceeds a month; larger values are input errors."""


def round_money(value: Decimal, currency: str) -> Decimal:
    """Round half-up to `currency`'s minor unit: the one rounding rule of every amount
    billing emits (`msp_events.money.round_amount`)."""
    return round_amount(value, currency)


def line_amount(quantity: Decimal, unit_amount: Decimal, currency: str) -> Decimal:
    """An invoice line's amount: quantity x unit amount, rounded half-up to the
    currency's minor unit."""
    with localcontext(WIDE):
        return round_amount(quantity * unit_amount, currency)


def price(rate: Decimal, multiplier: Decimal, minutes: int, currency: str) -> Decimal:
    """The amount for `minutes` of work at an hourly `rate` times `multiplier`, rounded
    half-up to the currency's minor unit (rounding once, at the end)."""
    with localcontext(WIDE):
        return round_amount(rate * multiplier * minutes / 60, currency)


class LineItemRecorded(EventData):
    """A unit of work (a time entry, or a ticket without one) was classified and
    priced. Emitted by billing, once per unit of work; a re-classification re-emits the
    same `line_item_id`, and the latest record wins. `rule` names the rule that decided
    the classification and `reason` explains it in words, for the customer and the
    audit. `prior_period` marks work from an earlier month billed late."""

    event_type: ClassVar[str] = "msp.billing.line_item_recorded.v1"
    model_config = ConfigDict(
        json_schema_extra={"allOf": currency_rules(amounts=("amount",), unit_prices=("rate",))}
    )

    line_item_id: Identifier
    source_event_ids: list[EventId] = Field(
        min_length=1, description="Ids of the events this line was derived from"
    )
    entry_id: Identifier | None = Field(default=None, description="The time entry, if any")
    ticket_id: Identifier | None = None
    classification: Classification
    rule: str = Field(min_length=1, max_length=128, description="e.g. covered_category")
    reason: str = Field(min_length=1, max_length=2000)
    work_date: dt.date = Field(description="When the work was done, customer-local date")
    minutes_worked: int = Field(ge=0, le=MAX_MINUTES)
    minutes_billed: int = Field(
        ge=0, le=MAX_MINUTES, description="After minimum and rounding increments"
    )
    currency: Currency
    rate: NonNegativeMoney = Field(description=f"Hourly rate applied. {UNIT_PRICE_DESCRIPTION}")
    multiplier: Multiplier = Field(description="After-hours / weekend / emergency multiplier")
    amount: NonNegativeMoney = Field(
        description=f"rate x multiplier x minutes_billed / 60. {AMOUNT_DESCRIPTION}"
    )
    period: Period
    contract_id: Identifier | None = None
    contract_version: int | None = Field(default=None, ge=1)
    change_order_id: Identifier | None = None
    prior_period: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> LineItemRecorded:
        if self.entry_id is None and self.ticket_id is None:
            raise ValueError("entry_id or ticket_id is required")
        if (self.contract_id is None) != (self.contract_version is None):
            raise ValueError("contract_id and contract_version go together")
        if self.classification in BILLED:
            expected = price(self.rate, self.multiplier, self.minutes_billed, self.currency)
            if self.amount != expected:
                raise ValueError(
                    f"amount {self.amount} != rate x multiplier x minutes_billed / 60 = {expected}"
                )
        elif self.amount != 0 or self.minutes_billed != 0:
            raise ValueError(
                f"classification {self.classification!r} is not billed: "
                "amount and minutes_billed must be 0"
            )
        work_period = self.work_date.strftime("%Y-%m")
        if self.prior_period and work_period >= self.period:
            raise ValueError("prior_period work must be dated before the billing period")
        if not self.prior_period and work_period != self.period:
            raise ValueError(
                f"work_date {self.work_date} is outside period {self.period} "
                "(set prior_period for late work)"
            )
        return self

    @field_serializer("rate", when_used="json")
    def _write_rate(self, value: Decimal) -> str:
        return unit_price_text(value, self.currency)

    @field_serializer("amount", when_used="json")
    def _write_amount(self, value: Decimal) -> str:
        return amount_text(value, self.currency)


InvoiceLineKind = Literal[Classification, "flat_fee"]
"""A Classification, or `flat_fee` (one Literal, so errors point at the field)."""


class InvoiceLine(Part):
    """One invoice line, mapping 1:1 onto a QuickBooks Online invoice line
    (`SalesItemLineDetail`: ItemRef=item_code, Qty, UnitPrice, TaxCodeRef=tax_code,
    ServiceDate; Line.Amount=line_amount, Line.Description) and a Xero `LineItem`
    (Description, Quantity, UnitAmount, LineAmount, ItemCode, AccountCode,
    TaxType=tax_code). `currency` is not part of either (it is per invoice there): we
    carry it so an invoice can prove no line from another currency slipped in.

    `classification` is `flat_fee` for the contract's flat fee (and its proration),
    else the classification of the line items it sums, listed in `source_line_item_ids`.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": currency_rules(amounts=("line_amount",), unit_prices=("unit_amount",))
        }
    )

    line_id: Identifier
    description: str = Field(min_length=1, max_length=4000)
    currency: Currency
    quantity: Quantity
    unit_amount: Money = Field(description=UNIT_PRICE_DESCRIPTION)
    line_amount: Money = Field(description=f"quantity x unit_amount, rounded. {AMOUNT_DESCRIPTION}")
    item_code: str | None = Field(default=None, max_length=64)
    account_code: str | None = Field(default=None, max_length=64)
    tax_code: str | None = Field(default=None, max_length=64)
    service_date: dt.date | None = None
    classification: InvoiceLineKind
    source_line_item_ids: list[Identifier] = Field(default_factory=list)

    @field_validator("line_amount")
    @classmethod
    def _amount_is_quantity_times_unit(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        quantity, unit = info.data.get("quantity"), info.data.get("unit_amount")
        currency = info.data.get("currency")
        if quantity is not None and unit is not None and currency is not None:
            expected = line_amount(quantity, unit, currency)
            if value != expected:
                raise ValueError(
                    f"line_amount {value} != quantity x unit_amount rounded half-up to "
                    f"{currency}'s minor unit = {expected}"
                )
        return value

    @field_serializer("unit_amount", when_used="json")
    def _write_unit_amount(self, value: Decimal) -> str:
        return unit_price_text(value, self.currency)

    @field_serializer("line_amount", when_used="json")
    def _write_line_amount(self, value: Decimal) -> str:
        return amount_text(value, self.currency)

    @model_validator(mode="after")
    def _traceable(self) -> InvoiceLine:
        if self.classification != "flat_fee" and not self.source_line_item_ids:
            raise ValueError("a work line needs source_line_item_ids (which line items it sums)")
        return self


def _check_lines(lines: list[InvoiceLine], currency: str) -> None:
    ids = [line.line_id for line in lines]
    if len(set(ids)) != len(ids):
        raise ValueError("line_id values must be unique")
    foreign = sorted({line.currency for line in lines if line.currency != currency})
    if foreign:
        raise ValueError(f"all lines must be in {currency}; found {', '.join(foreign)}")


class Actor(Part):
    """Who made the API call behind an event: the authenticated principal (from its
    verified token or API key, never from a request body), as the audit log names it."""

    subject: str = Field(min_length=1, max_length=256, description="Provider `sub` or key:<id>")
    display_name: str = Field(min_length=1, max_length=256)
    credential_id: str = Field(
        min_length=1, max_length=256, description="API key id, or oidc:<client id>"
    )


class InvoiceIssued(EventData):
    """The monthly invoice for a customer was issued. Emitted by billing at the
    month-end run: the flat fee (prorated when the contract changed mid-month) plus the
    billable line items of the period. Finance books it in its accounting system."""

    event_type: ClassVar[str] = "msp.billing.invoice_issued.v1"
    model_config = ConfigDict(
        json_schema_extra={"allOf": currency_rules(amounts=("subtotal", "tax_total", "total"))}
    )

    invoice_id: Identifier
    period: Period
    currency: Currency
    issued_at: UtcDatetime
    lines: list[InvoiceLine] = Field(min_length=1)
    subtotal: Money = Field(description=f"Sum of the line amounts. {AMOUNT_DESCRIPTION}")
    tax_total: NonNegativeMoney = Field(description=AMOUNT_DESCRIPTION)
    total: Money = Field(description=f"subtotal + tax_total. {AMOUNT_DESCRIPTION}")
    actor: Actor | None = Field(
        default=None, description="Who made the call that caused it (absent: not an API call)"
    )

    @field_validator("tax_total")
    @classmethod
    def _tax_in_minor_units(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        # subtotal and total are sums of checked amounts; tax is the one given outright
        currency = info.data.get("currency")
        error = None if currency is None else amount_error(value, currency)
        if error is not None:
            raise ValueError(error)
        return value

    @model_validator(mode="after")
    def _adds_up(self) -> InvoiceIssued:
        _check_lines(self.lines, self.currency)
        line_sum = sum((line.line_amount for line in self.lines), Decimal(0))
        if self.subtotal != line_sum:
            raise ValueError(f"subtotal {self.subtotal} != sum of line amounts {line_sum}")
        if self.total != self.subtotal + self.tax_total:
            raise ValueError(
                f"total {self.total} != subtotal + tax_total = {self.subtotal + self.tax_total}"
            )
        return self

    @field_serializer("subtotal", "tax_total", "total", when_used="json")
    def _write_amounts(self, value: Decimal) -> str:
        return amount_text(value, self.currency)


class CreditNoteIssued(EventData):
    """A credit note against an issued invoice (e.g. an SLA service credit or a billing
    correction). Emitted by billing. Amounts are positive: what is credited."""

    event_type: ClassVar[str] = "msp.billing.credit_note_issued.v1"
    model_config = ConfigDict(json_schema_extra={"allOf": currency_rules(amounts=("total",))})

    credit_note_id: Identifier
    invoice_id: Identifier
    reason: str = Field(min_length=1, max_length=2000)
    issued_at: UtcDatetime
    currency: Currency
    lines: list[InvoiceLine] = Field(min_length=1)
    total: NonNegativeMoney = Field(description=f"Sum of the line amounts. {AMOUNT_DESCRIPTION}")
    actor: Actor | None = Field(
        default=None, description="Who made the call that caused it (absent: not an API call)"
    )

    @model_validator(mode="after")
    def _adds_up(self) -> CreditNoteIssued:
        _check_lines(self.lines, self.currency)
        line_sum = sum((line.line_amount for line in self.lines), Decimal(0))
        if self.total != line_sum:
            raise ValueError(f"total {self.total} != sum of line amounts {line_sum}")
        return self

    @field_serializer("total", when_used="json")
    def _write_total(self, value: Decimal) -> str:
        return amount_text(value, self.currency)


class LineItemReclassified(EventData):
    """A recorded line item changed classification: a person reclassified it from the
    hold-for-review queue, a late change-order approval released held scope creep, or a
    credit note released an invoiced line back to review. Emitted by billing, in the
    same transaction as the `LineItemRecorded` records that carry the new outcome (their
    ids are listed in `line_item_ids`; the first is the reclassified line itself), so
    every change of bucket is audited on the topic."""

    event_type: ClassVar[str] = "msp.billing.line_item_reclassified.v1"

    line_item_id: Identifier
    line_item_ids: list[Identifier] = Field(
        min_length=1, description="The line items now recording the work (first: this one)"
    )
    entry_id: Identifier | None = None
    ticket_id: Identifier | None = None
    from_classification: Classification
    to_classification: Classification
    rule: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)
    reclassified_by: str = Field(min_length=1, max_length=256)
    reclassified_at: UtcDatetime
    change_order_id: Identifier | None = None
    credit_note_id: Identifier | None = None
    actor: Actor | None = Field(
        default=None, description="Who made the call that caused it (absent: not an API call)"
    )

    @model_validator(mode="after")
    def _first_is_self(self) -> LineItemReclassified:
        if self.line_item_ids[0] != self.line_item_id:
            raise ValueError("line_item_ids must start with line_item_id")
        return self


EVENTS: tuple[type[EventData], ...] = (
    LineItemRecorded,
    InvoiceIssued,
    CreditNoteIssued,
    LineItemReclassified,
)
