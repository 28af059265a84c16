"""The monthly flat fee: `prorate_flat_fee(contract, period)`.

Rule: each customer-local day of the month is billed under the contract version in
force at that day's local start (00:00); a version taking effect during a day governs
from the next day. A version (or a termination) changing at local midnight, the usual
case, therefore splits the month exactly at that date. Consecutive days under the same
version form one portion. A portion covering the whole month bills the full monthly
fee; otherwise it bills monthly fee x days / days in the month, rounded half-up to the
currency's minor unit once per portion (`msp_events.money`). Days under an on-demand
version, before the first version or from the termination on carry no fee.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from billing.contracts import ContractState
from billing.periods import days_of, local_midnight
from msp_events.types.billing import round_money
from msp_events.types.contracts import ContractVersion


@dataclass(frozen=True)
class FeePortion:
    version: ContractVersion
    first_day: dt.date
    last_day: dt.date
    days: int
    days_in_month: int
    amount: Decimal

    @property
    def full_month(self) -> bool:
        return self.days == self.days_in_month


def prorate_flat_fee(contract: ContractState, period: str, timezone: str) -> list[FeePortion]:
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
        whole = len(run) == len(days)
        currency = version.rates.currency
        amount = round_money(monthly if whole else monthly * len(run) / len(days), currency)
        portions.append(FeePortion(version, run[0], run[-1], len(run), len(days), amount))
    return portions
