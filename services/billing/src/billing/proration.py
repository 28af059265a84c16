"""The monthly flat fee: `prorate_flat_fee(contract, period)`.

Rule: each customer-local day of the month is billed under the contract version in
force at that day's local start (00:00); a version taking effect during a day governs
from the next day. A version (or a termination) changing at local midnight, the usual
case, therefore splits the month exactly at that date. Consecutive days under the same
version form one portion. A portion covering the whole month bills the full monthly
fee; otherwise it bills monthly fee x days / days in the month, rounded half-up to the
currency's minor unit once per portion (`msp_events.money`). Days under an on-demand
version, before the first version or from the termination on carry no fee.

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
from billing.periods import days_of, local_midnight
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

    @property
    def full_month(self) -> bool:
        return self.days == self.days_in_month


def prorate_flat_fee(
    contract: ContractState,
    period: str,
    timezone: str,
    seen: Mapping[AssetKind, SeenPerDay] | None = None,
) -> list[FeePortion]:
    """The month's fee portions; `seen` = the assets seen per local day, by kind."""
    days = days_of(period)
    runs: list[tuple[ContractVersion, list[dt.date]]] = []
    for day in days:
        version = contract.version_at(local_midnight(day, timezone))
        if version is None or version.flat_fee is None or version.tier == "on_demand":
            continue
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
        amount = round_money(monthly if whole else monthly * len(run) / len(days), currency)
        portions.append(FeePortion(version, run[0], run[-1], len(run), len(days), amount, counted))
    return portions
