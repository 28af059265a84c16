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

from billing.budgets import BudgetLeft, Piece, split_at_budget
from billing.classification import Decision
from billing.contracts import ContractState
from billing.periods import local_date, next_period, period_of
from billing.pricing import price_entry
from msp_events import derive_event_id
from msp_events.trusted import construct
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
    items, _ = build_budgeted_line_items(
        entry,
        source_event_id=source_event_id,
        decision=decision,
        contract=contract,
        last_closed=last_closed,
        budget=None,
    )
    return items


def build_budgeted_line_items(
    entry: TimeLogged,
    *,
    source_event_id: str,
    decision: Decision,
    contract: ContractState,
    last_closed: str | None,
    budget: BudgetLeft | None,
) -> tuple[list[LineItemRecorded], BudgetLeft | None]:
    """The entry's line items; billed work under a change order with a budget is split
    at what is left of it (`budgets.split_at_budget`): the rest is held. Returns the
    items and what is left of the budget after them."""
    version = pricing_version(contract, entry)
    rates = version.rates
    billed = decision.kind in BILLED
    segments = price_entry(entry, version, billed=billed)
    if billed and budget is not None and budget.limited:
        pieces, budget = split_at_budget(
            segments, budget, rate=rates.standard_hourly, currency=rates.currency
        )
    else:
        pieces = [
            Piece(i, i, s, s.minutes_worked, s.minutes_billed, held=False)
            for i, s in enumerate(segments)
        ]
    lines = []
    for piece in pieces:
        segment = piece.segment
        work_date = local_date(segment.started_at, version.timezone)
        period, prior = billing_period(work_date, last_closed)
        kind, rule, reason = decision.kind, decision.rule, decision.reason
        multiplier = segment.multiplier
        if piece.held:
            kind, rule, multiplier = "scope_creep", OVER_BUDGET, ONE
            reason = (
                f"{reason}; beyond the budget of change order {decision.change_order_id}: "
                "held for the customer's approval of the overrun, not billed"
            )
        elif billed and segment.basis != "standard":
            reason = f"{reason}; {segment.basis.replace('_', ' ')} rate x{segment.multiplier}"
        charged = kind in BILLED
        amount = _price(rates.standard_hourly, multiplier, piece.minutes_billed, rates.currency)
        fields: dict[str, Any] = dict(
            line_item_id=line_item_id(source_event_id, piece.index),
            source_event_ids=[source_event_id],
            entry_id=entry.entry_id,
            ticket_id=entry.ticket_id,
            classification=kind,
            rule=rule,
            reason=reason[:2000],
            work_date=work_date,
            minutes_worked=piece.minutes_worked,
            minutes_billed=piece.minutes_billed if charged else 0,
            currency=rates.currency,
            rate=rates.standard_hourly,
            multiplier=multiplier,
            amount=amount if charged else ZERO,
            period=period,
            contract_id=contract.contract_id,
            contract_version=version.version,
            change_order_id=decision.change_order_id,
            prior_period=prior,
        )
        lines.append(_line_item(fields))
    return lines, budget


OVER_BUDGET = "change_order_budget_exceeded"
ONE = Decimal(1)
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
        return construct(LineItemRecorded, fields)
    return LineItemRecorded(**fields)
