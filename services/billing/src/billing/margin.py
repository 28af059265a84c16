"""What a customer costs and what it pays: pure rules over the period's recorded work.

* Cost: every minute worked for the customer in the month (the customer-local work
  date, as the hours report counts; superseded lines excluded), at the cost rate of
  the technician who logged the time entry, in the customer's currency. Work billed
  late in a later period, or released by a credit note, still costs in the month it
  was done.
  All work costs, whatever it is billed as: covered work is what the flat fee has to
  pay for, warranty and held work cost without revenue.
* Rounding: minutes are summed per (technician, classification) and rounded half-up
  to the currency's minor unit once per group; every total is the exact sum of those.
* A technician with no rate in the currency (and no `*` default) costs nothing and
  their minutes are reported as `uncosted_minutes`, never silently priced.
* Revenue: the month's invoice subtotal (tax excluded) less the credit notes issued
  against that invoice, whenever they were issued. Margin = revenue - cost; the ratio
  is margin / revenue (None without revenue).
* Utilisation per technician: hours by classification; billable = project + on-demand
  + overage; the billable share of the hours worked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from msp_events.money import WIDE, round_amount

BILLABLE = frozenset({"project", "on_demand", "overage"})
ANY_TECHNICIAN = "*"

CostRates = Mapping[str, Mapping[str, Decimal]]
"""technician id (or `*`, the default) -> currency -> hourly cost."""


@dataclass(frozen=True)
class Work:
    """Minutes of one technician on one classification (a line item, or a sum)."""

    technician_id: str
    classification: str
    minutes: int


@dataclass(frozen=True)
class CustomerMargin:
    customer_id: str
    period: str
    currency: str
    revenue: Decimal
    cost: Decimal
    cost_by_classification: dict[str, Decimal]
    minutes_by_classification: dict[str, int]
    uncosted_minutes: int

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_ratio(self) -> Decimal | None:
        if self.revenue <= 0:
            return None
        with localcontext(WIDE):
            return (self.margin / self.revenue).quantize(Decimal("0.0001"))


@dataclass
class Utilisation:
    technician_id: str
    minutes_by_classification: dict[str, int] = field(default_factory=dict)

    @property
    def worked_minutes(self) -> int:
        return sum(self.minutes_by_classification.values())

    @property
    def billable_minutes(self) -> int:
        return sum(m for k, m in self.minutes_by_classification.items() if k in BILLABLE)

    @property
    def billable_ratio(self) -> Decimal | None:
        if self.worked_minutes == 0:
            return None
        with localcontext(WIDE):
            return (Decimal(self.billable_minutes) / self.worked_minutes).quantize(
                Decimal("0.0001")
            )


def cost_rate(rates: CostRates, technician_id: str, currency: str) -> Decimal | None:
    """The technician's own rate in `currency`, else the `*` default, else None."""
    for who in (technician_id, ANY_TECHNICIAN):
        rate = rates.get(who, {}).get(currency)
        if rate is not None:
            return rate
    return None


def group(work: Iterable[Work]) -> dict[tuple[str, str], int]:
    """Minutes per (technician, classification), in a stable order."""
    minutes: dict[tuple[str, str], int] = defaultdict(int)
    for w in work:
        minutes[w.technician_id, w.classification] += w.minutes
    return dict(sorted(minutes.items()))


def customer_margin(
    *,
    customer_id: str,
    period: str,
    currency: str,
    revenue: Decimal,
    work: Iterable[Work],
    rates: CostRates,
) -> CustomerMargin:
    cost_by: dict[str, Decimal] = defaultdict(Decimal)
    minutes_by: dict[str, int] = defaultdict(int)
    uncosted = 0
    for (technician, kind), minutes in group(work).items():
        minutes_by[kind] += minutes
        rate = cost_rate(rates, technician, currency)
        if rate is None:
            uncosted += minutes
            cost_by[kind] += 0
            continue
        with localcontext(WIDE):
            cost_by[kind] += round_amount(rate * minutes / 60, currency)
    return CustomerMargin(
        customer_id=customer_id,
        period=period,
        currency=currency,
        revenue=revenue,
        cost=sum(cost_by.values(), Decimal(0)),
        cost_by_classification=dict(sorted(cost_by.items())),
        minutes_by_classification=dict(sorted(minutes_by.items())),
        uncosted_minutes=uncosted,
    )


def utilisation(work: Iterable[Work]) -> list[Utilisation]:
    """Hours per technician and classification, technicians in id order."""
    found: dict[str, Utilisation] = {}
    for (technician, kind), minutes in group(work).items():
        u = found.setdefault(technician, Utilisation(technician))
        u.minutes_by_classification[kind] = u.minutes_by_classification.get(kind, 0) + minutes
    return [found[t] for t in sorted(found)]
