"""Turning a classified time entry into `LineItemRecorded` events:
`build_line_items(...)`.

Ids: segment i of the entry delivered as event E is ``li-`` + uuid5(E, "line", i), so a
replay (or a redelivery) yields the same ids and can never bill twice. A held line is
one segment; when it is released its id stays, and any further segments get the next
indices.

Periods: a line belongs to the month of its customer-local work date, unless that
month is already closed (its invoice run happened): then it is billed in the month
after the latest closed one, flagged `prior_period`.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from billing.classification import Decision
from billing.contracts import ContractState
from billing.periods import local_date, next_period, period_of
from billing.pricing import price_entry
from billing.trusted import trusted
from msp_events import derive_event_id
from msp_events.types.billing import BILLED, MAX_MINUTES, LineItemRecorded, price
from msp_events.types.contracts import ContractVersion
from msp_events.types.tickets import TimeLogged


def line_item_id(source_event_id: str, segment: int) -> str:
    return "li-" + derive_event_id(source_event_id, "line", str(segment))


def billing_period(work_date: dt.date, last_closed: str | None) -> tuple[str, bool]:
    """(period, prior_period) for work done on `work_date` (customer-local)."""
    work_period = period_of(work_date)
    if last_closed is None or work_period > last_closed:
        return work_period, False
    return next_period(last_closed), True


def pricing_version(contract: ContractState, entry: TimeLogged) -> ContractVersion:
    return contract.version_at(entry.started_at) or contract.nearest_version(entry.started_at)


def build_line_items(
    entry: TimeLogged,
    *,
    source_event_id: str,
    decision: Decision,
    contract: ContractState,
    last_closed: str | None,
) -> list[LineItemRecorded]:
    version = pricing_version(contract, entry)
    rates = version.rates
    billed = decision.kind in BILLED
    lines = []
    for index, segment in enumerate(price_entry(entry, version, billed=billed)):
        work_date = local_date(segment.started_at, version.timezone)
        period, prior = billing_period(work_date, last_closed)
        amount = _price(
            rates.standard_hourly, segment.multiplier, segment.minutes_billed, rates.currency
        )
        reason = decision.reason
        if billed and segment.basis != "standard":
            reason = f"{reason}; {segment.basis.replace('_', ' ')} rate x{segment.multiplier}"
        fields: dict[str, Any] = dict(
            line_item_id=line_item_id(source_event_id, index),
            source_event_ids=[source_event_id],
            entry_id=entry.entry_id,
            ticket_id=entry.ticket_id,
            classification=decision.kind,
            rule=decision.rule,
            reason=reason[:2000],
            work_date=work_date,
            minutes_worked=segment.minutes_worked,
            minutes_billed=segment.minutes_billed,
            currency=rates.currency,
            rate=rates.standard_hourly,
            multiplier=segment.multiplier,
            amount=amount if billed else ZERO,
            period=period,
            contract_id=contract.contract_id,
            contract_version=version.version,
            change_order_id=decision.change_order_id,
            prior_period=prior,
        )
        lines.append(_line_item(fields))
    return lines


ZERO = Decimal(0)
# The same few (rate, multiplier, minutes) come up again and again. Equal Decimals give
# the same result (it is quantized to the currency's minor unit, so even its exponent is
# fixed).
_price = functools.lru_cache(maxsize=65_536)(price)
_MAX_AMOUNT = Decimal("1e14")  # Money: 18 digits, 4 after the point


def _line_item(fields: dict[str, Any]) -> LineItemRecorded:
    """Skip re-validating what is valid by construction (the hot path: validation was
    ~a fifth of the consumer's CPU). Every value comes from a validated input (the
    TimeLogged, the contract version, the decision's fixed rules), the amount is
    `price(...)` and the period `billing_period(...)`, so `LineItemRecorded`'s own
    checks hold by construction — except the bounds an odd input can break (minutes,
    amount size): those are checked here, and such a line goes through the validating
    constructor, which raises as before (the record becomes a dead letter).
    `test_pricing.py::test_constructed_line_items_validate` proves the equivalence."""
    minutes_ok = 0 <= fields["minutes_billed"] <= MAX_MINUTES and (
        0 <= fields["minutes_worked"] <= MAX_MINUTES
    )
    if minutes_ok and fields["amount"] < _MAX_AMOUNT and fields["reason"]:
        return trusted(LineItemRecorded, fields)
    return LineItemRecorded(**fields)
