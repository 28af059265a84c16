"""The monthly flat fee: `prorate_flat_fee(contract, period)`.

Rule: each customer-local day of the month is billed under the contract version in
force at that day's local start (00:00); a version taking effect during a day governs
from the next day. A version (or a termination) changing at local midnight, the usual
case, therefore splits the month exactly at that date. Consecutive days under the same
version form one portion. A portion covering the whole month bills the full monthly
fee; otherwise it bills monthly fee x days / days in the month, rounded half-up to the
currency's minor unit once per portion (`msp_events.money`). Days under an on-demand
version, before the first version or from the termination on carry no fee.

Termination (to the minute): the customer-local day in which the contract ends, when it
ends after that day's 00:00, is billed for the whole minutes it ran under the contract:
minutes = floor((terminated_at - the day's local 00:00) / 1 min), of the day's local
length L in minutes (1440; 1380 or 1500 on a DST change). Its portion bills
monthly fee x (whole days x L + minutes) / (days in the month x L), rounded once. A
termination at local 00:00 is the whole-day case above; nothing is billed after it,
in that month or any later one. `terminated_portion_amount` is the pure rule.

A per-device or per-user fee bills unit price x the portion's counted units
(`counts.py: count_units`: the contracted count, raised to the peak seen on one of the
portion's days) in place of the contracted count, prorated the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from billing.contracts import ContractState
from billing.counts import CountedUnits, SeenPerDay, count_units, fee_kind
from billing.periods import days_of, local_date, local_midnight
from msp_events.types.billing import round_money
from msp_events.types.contracts import ContractVersion
from msp_events.types.inventory import AssetKind


@dataclass(frozen=True)
class FeePortion:
    version: ContractVersion
    first_day: dt.date
    last_day: dt.date
    days: int
    days_in_month: int
    amount: Decimal
    counted: CountedUnits | None = None
    """For a per-unit fee: the count billed and why (None for a fixed fee)."""
    final_minutes: int = 0
    """Minutes billed of `last_day`, the termination day, beyond the whole `days`."""
    final_day_minutes: int = 1440
    """The local length of the termination day in minutes (DST days differ)."""

    @property
    def full_month(self) -> bool:
        return self.days == self.days_in_month


def terminated_portion_amount(
    monthly: Decimal,
    *,
    whole_days: int,
    minutes: int,
    day_minutes: int,
    days_in_month: int,
    currency: str,
) -> Decimal:
    """monthly x (whole_days x day_minutes + minutes) / (days_in_month x day_minutes),
    rounded half-up once to the currency's minor unit (see the module docstring)."""
    if not 0 <= minutes < day_minutes or not 0 <= whole_days < days_in_month:
        raise ValueError("minutes must lie within the day and days within the month")
    billed = Decimal(whole_days * day_minutes + minutes)
    return round_money(monthly * billed / (days_in_month * day_minutes), currency)


def _termination_day(contract: ContractState, timezone: str) -> tuple[dt.date, int, int] | None:
    """(local date, minutes billed, day length in minutes) when the contract ends after
    the local start of a day; None when it runs on or ends at a local midnight."""
    ended = contract.terminated_at
    if ended is None:
        return None
    day = local_date(ended, timezone)
    start = local_midnight(day, timezone)
    if ended == start:
        return None
    length = local_midnight(day + dt.timedelta(days=1), timezone) - start
    return day, (ended - start) // dt.timedelta(minutes=1), length // dt.timedelta(minutes=1)


def prorate_flat_fee(
    contract: ContractState,
    period: str,
    timezone: str,
    seen: Mapping[AssetKind, SeenPerDay] | None = None,
) -> list[FeePortion]:
    """The month's fee portions; `seen` = the assets seen per local day, by kind."""
    days = days_of(period)
    final = _termination_day(contract, timezone)
    runs: list[tuple[ContractVersion, list[dt.date]]] = []
    for day in days:
        version = contract.version_at(local_midnight(day, timezone))
        if version is None or version.flat_fee is None or version.tier == "on_demand":
            continue
        if final is not None and day == final[0] and final[1] == 0:
            continue  # ended within the day's first minute: nothing of it is billed
        if runs and runs[-1][0] is version and runs[-1][1][-1] + dt.timedelta(days=1) == day:
            runs[-1][1].append(day)
        else:
            runs.append((version, [day]))
    portions = []
    for version, run in runs:
        assert version.flat_fee is not None
        monthly = version.flat_fee.monthly_amount()
        kind = fee_kind(version)
        counted = None
        if kind is not None:
            counted = count_units(version, days=run, seen=(seen or {}).get(kind, {}))
            assert counted is not None and version.flat_fee.unit_price is not None
            monthly = version.flat_fee.unit_price * counted.billed
        whole = len(run) == len(days)
        currency = version.rates.currency
        if final is not None and run[-1] == final[0]:
            _, minutes, length = final
            amount = terminated_portion_amount(
                monthly,
                whole_days=len(run) - 1,
                minutes=minutes,
                day_minutes=length,
                days_in_month=len(days),
                currency=currency,
            )
            portions.append(
                FeePortion(
                    version,
                    run[0],
                    run[-1],
                    len(run) - 1,
                    len(days),
                    amount,
                    counted,
                    minutes,
                    length,
                )
            )
            continue
        amount = round_money(monthly if whole else monthly * len(run) / len(days), currency)
        portions.append(FeePortion(version, run[0], run[-1], len(run), len(days), amount, counted))
    return portions
