"""The monthly invoice: `build_invoice(...)`, a pure function of the contract, the
period and the line items billed in it.

* One invoice per (customer, period): its id is ``inv-`` + uuid5("invoice", customer,
  period), so a rerun yields the same id; the caller refuses to issue it twice.
* Lines, in this order: the flat-fee portions (prorated on a mid-month contract
  change, see proration.py; a per-device / per-user fee at the counted units,
  counts.py, its description saying contracted, peak seen and billed), then one line
  per billable or warranty line item sorted by work date (warranty lines at zero,
  visible as no-charge; `overage` lines are covered work beyond the included hours,
  see included_hours.py). Covered work is in the flat fee; scope creep and held work
  are never on an invoice.
* Each line maps 1:1 onto QuickBooks `SalesItemLineDetail` / Xero `LineItems`
  (see `InvoiceLine`). Quantity is hours when the billed minutes are a whole number of
  hundredths of an hour (a multiple of 3 minutes), else 1 x the line amount, so
  quantity x unit amount always equals the line item's amount exactly.
* Tax is left to the accounting system (tax_total 0, the configured `tax_code` on
  every line).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.contracts import ContractState
from billing.counts import SeenPerDay
from billing.proration import FeePortion, prorate_flat_fee
from msp_events import derive_event_id
from msp_events.types.billing import BILLED, InvoiceIssued, InvoiceLine, LineItemRecorded
from msp_events.types.inventory import AssetKind

INVOICED = BILLED | {"warranty"}
"""Classifications that appear on an invoice (warranty as a no-charge line)."""


@dataclass(frozen=True)
class AccountingCodes:
    flat_fee_item: str = "MSP-MANAGED"
    project_item: str = "MSP-PROJECT-HOUR"
    on_demand_item: str = "MSP-ONDEMAND-HOUR"
    warranty_item: str = "MSP-WARRANTY"
    overage_item: str = "MSP-OVERAGE-HOUR"
    account_code: str | None = "200"
    tax_code: str | None = None


def invoice_id(customer_id: str, period: str) -> str:
    return "inv-" + derive_event_id("invoice", customer_id, period)


def _line_id(invoice: str, part: str) -> str:
    return "il-" + derive_event_id(invoice, part)


def _hours(minutes: int) -> Decimal | None:
    return Decimal(minutes) / 60 if minutes % 3 == 0 and minutes > 0 else None


def _fee_line(inv: str, p: FeePortion, period: str, codes: AccountingCodes) -> InvoiceLine | None:
    fee = p.version.flat_fee
    assert fee is not None
    currency = p.version.rates.currency
    if fee.model == "fixed":
        what, quantity, unit = "fixed fee", Decimal(1), fee.monthly_amount()
    else:
        assert p.counted is not None and fee.unit_price is not None
        count, noun = p.counted.billed, "users" if fee.model == "per_user" else "devices"
        what, quantity, unit = (
            f"{count} {noun} x {currency} {fee.unit_price} ({p.counted.explain()})",
            Decimal(count),
            fee.unit_price,
        )
    if p.amount == 0:
        return None
    description = f"Managed services {period} (contract version {p.version.version}): {what}"
    if not p.full_month:
        description += f", prorated {p.first_day}..{p.last_day} ({p.days}/{p.days_in_month} days"
        if p.final_minutes:
            description += f" + {p.final_minutes}/{p.final_day_minutes} min to termination"
        description += ")"
        quantity, unit = Decimal(1), p.amount
    return InvoiceLine(
        line_id=_line_id(inv, f"flat_fee:{p.version.version}:{p.first_day}"),
        description=description,
        quantity=quantity,
        unit_amount=unit,
        line_amount=p.amount,
        currency=currency,
        item_code=codes.flat_fee_item,
        account_code=codes.account_code,
        tax_code=codes.tax_code,
        service_date=p.first_day,
        classification="flat_fee",
    )


def _work_line(inv: str, item: LineItemRecorded, codes: AccountingCodes) -> InvoiceLine | None:
    warranty = item.classification == "warranty"
    minutes = item.minutes_worked if warranty else item.minutes_billed
    hours = _hours(minutes)
    if warranty:
        if hours is None:
            return None
        quantity, unit = hours, Decimal(0)
    elif hours is not None:
        quantity, unit = hours, item.rate * item.multiplier
        if unit != unit.quantize(Decimal("0.0001")) or quantity * unit != item.amount:
            quantity, unit = Decimal(1), item.amount
    else:
        quantity, unit = Decimal(1), item.amount
    label = {
        "project": "Project work",
        "on_demand": "On-demand work",
        "overage": "Included hours overage",
    }.get(item.classification, "Warranty work (no charge)")
    prior = f" [prior period: {item.work_date}]" if item.prior_period else ""
    description = (
        f"{label}, ticket {item.ticket_id}, entry {item.entry_id}, {item.work_date}: "
        f"{minutes} min{prior}. {item.reason}"
    )[:4000]
    item_code = {
        "project": codes.project_item,
        "on_demand": codes.on_demand_item,
        "overage": codes.overage_item,
    }.get(item.classification, codes.warranty_item)
    return InvoiceLine(
        line_id=_line_id(inv, item.line_item_id),
        description=description,
        quantity=quantity,
        unit_amount=unit,
        line_amount=item.amount,
        currency=item.currency,
        item_code=item_code,
        account_code=codes.account_code,
        tax_code=codes.tax_code,
        service_date=item.work_date,
        classification=item.classification,
        source_line_item_ids=[item.line_item_id],
    )


def build_invoice(
    *,
    customer_id: str,
    period: str,
    contract: ContractState,
    items: Sequence[LineItemRecorded],
    issued_at: dt.datetime,
    codes: AccountingCodes,
    seen: Mapping[AssetKind, SeenPerDay] | None = None,
) -> InvoiceIssued | None:
    """The invoice, or None when there is nothing to invoice (no fee, no work).
    `seen`: the assets seen per customer-local day, by kind (counts.py)."""
    inv = invoice_id(customer_id, period)
    timezone = contract.versions[-1].timezone
    currency = contract.versions[-1].rates.currency
    lines: list[InvoiceLine] = []
    for portion in prorate_flat_fee(contract, period, timezone, seen):
        fee_line = _fee_line(inv, portion, period, codes)
        if fee_line is not None:
            lines.append(fee_line)
    billable = [i for i in items if i.classification in INVOICED and i.period == period]
    for item in sorted(billable, key=lambda i: (i.work_date, i.line_item_id)):
        work_line = _work_line(inv, item, codes)
        if work_line is not None:
            lines.append(work_line)
    if not lines:
        return None
    foreign = sorted({line.currency for line in lines} - {currency})
    if foreign:
        raise ValueError(f"lines in {', '.join(foreign)} on a {currency} invoice")
    subtotal = sum((line.line_amount for line in lines), Decimal(0))
    return InvoiceIssued(
        invoice_id=inv,
        period=period,
        currency=currency,
        issued_at=issued_at,
        lines=lines,
        subtotal=subtotal,
        tax_total=Decimal(0),
        total=subtotal,
    )
