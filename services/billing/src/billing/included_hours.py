"""Included hours ("block hours"): a monthly allowance of covered hours, overage beyond
it, and what rolls over. Pure functions; the invoice run applies them
(`invoice_run.py`), once per customer and period.

Rules (contract field `ContractVersion.included_hours`):

* Allowance: the version's `hours_per_month` in whole minutes, prorated exactly like the
  flat fee (`proration.py`: each customer-local day under the version in force at its
  00:00; a portion of d days of an n-day month gives allowance x d / n minutes, rounded
  half-up once per portion). A mid-month amendment therefore gives each version its
  share of days; the month's allowance is the sum of the portions.
* What counts: covered work (classification `covered`) billed in the period whose work
  category is in `included_hours.categories` of the version it was recorded under.
* Order: the month's counted minutes are consumed in the order the work was done
  (customer-local work date, start instant, entry, segment). The piece that crosses the
  allowance is split: the part within stays covered, the rest is overage.
* Overage: billed at `overage_hourly` of the version the work was recorded under, at
  multiplier 1, minute-exact (no minimum or increment: the entry's own rounding was
  already applied as covered work), rounded half-up to the currency's minor unit once
  per line.
* Rollover (the rule of the version in force on the month's last local day): `none`:
  unused hours expire; `capped`: the unused part of this month's own allowance carries
  to the next month, at most `rollover_cap_hours`. Rolled-over minutes are consumed
  first and expire at the end of the month they were carried into (they never compound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.budgets import consume
from billing.contracts import ContractState
from billing.line_items import line_item_id
from billing.periods import days_of, local_midnight
from billing.proration import prorate_flat_fee
from msp_events.types.billing import LineItemRecorded, price


@dataclass(frozen=True)
class AllowancePortion:
    version: int
    first_day: str
    days: int
    days_in_month: int
    minutes: int


def monthly_allowance(contract: ContractState, period: str) -> list[AllowancePortion]:
    """The period's allowance portions (the flat-fee proration's days, see the module
    docstring); empty when no version in force during the month has included hours."""
    timezone = contract.versions[-1].timezone
    portions = []
    for p in prorate_flat_fee(contract, period, timezone):
        included = p.version.included_hours
        if included is None:
            continue
        exact = Decimal(included.minutes_per_month) * p.days / p.days_in_month
        minutes = int(exact.quantize(Decimal(1), ROUND_HALF_UP))
        portions.append(
            AllowancePortion(
                p.version.version, p.first_day.isoformat(), p.days, p.days_in_month, minutes
            )
        )
    return portions


def rollover_cap(contract: ContractState, period: str) -> int:
    """Most minutes this period may carry into the next: the cap of the version in force
    at the start of the month's last local day (0 for `none`, or no included hours)."""
    last_day = days_of(period)[-1]
    version = contract.version_at(local_midnight(last_day, contract.versions[-1].timezone))
    if version is None or version.included_hours is None:
        return 0
    return version.included_hours.rollover_cap_minutes


@dataclass(frozen=True)
class Settlement:
    """One customer's included hours for one period, in minutes."""

    allowance: int
    rollover_in: int
    used: int
    overage: int
    rollover_out: int

    @property
    def included(self) -> int:
        return self.used - self.overage


def settle(*, allowance: int, rollover_in: int, used: int, cap: int) -> Settlement:
    """The month's outcome: overage beyond allowance + rollover_in; the rolled-over
    minutes are consumed first, so only this month's unused own allowance can carry
    on, at most `cap`."""
    overage = max(0, used - allowance - rollover_in)
    own_used = min(allowance, max(0, used - rollover_in))
    rollover_out = min(cap, allowance - own_used)
    return Settlement(allowance, rollover_in, used, overage, rollover_out)


def hours_text(minutes: int) -> str:
    return f"{Decimal(minutes) / 60:.2f}"


@dataclass(frozen=True)
class CoveredLine:
    """A covered line item billed in the period, with what the rule needs beside it."""

    item: LineItemRecorded
    work_category: str
    next_segment: int
    """The entry's next free segment index: the id of the overage part of a split."""


@dataclass(frozen=True)
class Change:
    """A covered line that went (partly) beyond the allowance: `items` replace it (the
    first keeps its id; a split adds the overage part under a new id)."""

    old: LineItemRecorded
    items: tuple[LineItemRecorded, ...]


def counts(contract: ContractState, line: CoveredLine) -> bool:
    """Whether the line counts against the allowance (see the module docstring)."""
    if line.item.classification != "covered" or line.item.contract_version is None:
        return False
    version = contract.versions[line.item.contract_version - 1]
    included = version.included_hours
    return included is not None and line.work_category in included.categories


def apply_allowance(
    *,
    contract: ContractState,
    period: str,
    lines: Sequence[CoveredLine],
    rollover_in: int,
) -> tuple[Settlement, list[Change]] | None:
    """The period's settlement and the lines that change, for `lines` in work order
    (the caller's ORDER BY); None when the contract has no included hours this month."""
    portions = monthly_allowance(contract, period)
    if not portions:
        return None
    allowance = sum(p.minutes for p in portions)
    counted = [line for line in lines if counts(contract, line)]
    available = allowance + rollover_in
    split = consume([line.item.minutes_worked for line in counted], available)
    used = sum(line.item.minutes_worked for line in counted)
    outcome = settle(
        allowance=allowance, rollover_in=rollover_in, used=used, cap=rollover_cap(contract, period)
    )
    changes = []
    for line, (within, over) in zip(counted, split, strict=True):
        if over:
            changes.append(_overage(contract, line, within, over, outcome, period))
    return outcome, changes


def _overage(
    contract: ContractState,
    line: CoveredLine,
    within: int,
    over: int,
    outcome: Settlement,
    period: str,
) -> Change:
    item = line.item
    assert item.contract_version is not None
    included = contract.versions[item.contract_version - 1].included_hours
    assert included is not None
    rate = included.overage_hourly
    available = outcome.allowance + outcome.rollover_in
    reason = (
        f"{line.work_category} beyond the included hours of {period}: "
        f"{hours_text(available)} h available ({hours_text(outcome.allowance)} h allowance + "
        f"{hours_text(outcome.rollover_in)} h rolled over), {hours_text(outcome.used)} h used; "
        f"{over} min billed at the overage rate {item.currency} {rate}/h "
        f"(contract version {item.contract_version})"
    )
    fields = dict(
        classification="overage",
        rule="included_hours_overage",
        reason=reason[:2000],
        minutes_worked=over,
        minutes_billed=over,
        rate=rate,
        multiplier=Decimal(1),
        amount=price(rate, Decimal(1), over, item.currency),
        change_order_id=None,
    )
    if not within:  # wholly beyond the allowance: the line itself becomes overage
        return Change(item, (_valid(item, fields),))
    kept = _valid(
        item,
        {
            "minutes_worked": within,
            "reason": (
                f"{item.reason}; {within} of its {item.minutes_worked} min within the included "
                f"hours of {period}, the rest is overage"
            )[:2000],
        },
    )
    extra_id = line_item_id(item.source_event_ids[0], line.next_segment)
    return Change(item, (kept, _valid(item, {**fields, "line_item_id": extra_id})))


def _valid(item: LineItemRecorded, update: dict[str, object]) -> LineItemRecorded:
    return LineItemRecorded.model_validate({**item.model_dump(), **update})
