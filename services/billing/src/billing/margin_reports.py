"""The margin and utilisation reports: the period's work (line items joined to the
time entries that name the technician) and revenue (invoices less their credit notes)
read from Postgres, then the pure rules of `margin.py`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from billing.margin import (
    CostRates,
    CustomerMargin,
    Utilisation,
    Work,
    customer_margin,
    utilisation,
)
from billing.store import money

UNKNOWN_TECHNICIAN = "unknown"


async def _work(
    conn: asyncpg.Connection, *, period: str, customer_id: str | None, scope: list[str] | None
) -> dict[tuple[str, str], list[Work]]:
    rows = await conn.fetch(
        """SELECT l.customer_id, l.currency, l.classification,
                  coalesce(e.payload->>'technician_id', $4) AS technician_id,
                  sum(l.minutes_worked)::bigint AS minutes
           FROM line_items l
           LEFT JOIN entries e ON e.customer_id = l.customer_id AND e.entry_id = l.entry_id
           WHERE to_char(l.work_date, 'YYYY-MM') = $1 AND l.rule <> 'superseded'
             AND ($2::text IS NULL OR l.customer_id = $2)
             AND ($3::text[] IS NULL OR l.customer_id = ANY($3))
           GROUP BY 1, 2, 3, 4""",
        period,
        customer_id,
        scope,
        UNKNOWN_TECHNICIAN,
    )
    work: dict[tuple[str, str], list[Work]] = {}
    for r in rows:
        work.setdefault((r["customer_id"], r["currency"]), []).append(
            Work(r["technician_id"], r["classification"], int(r["minutes"]))
        )
    return work


async def _revenue(
    conn: asyncpg.Connection, *, period: str, customer_id: str | None, scope: list[str] | None
) -> dict[tuple[str, str], tuple[str, Decimal]]:
    """(customer, currency) -> (invoice id, subtotal less credit notes)."""
    rows = await conn.fetch(
        """SELECT i.customer_id, i.currency, i.invoice_id,
                  (i.payload->>'subtotal')::numeric
                    - coalesce((SELECT sum(c.total) FROM credit_notes c
                                WHERE c.invoice_id = i.invoice_id), 0) AS revenue
           FROM invoices i
           WHERE i.period = $1 AND ($2::text IS NULL OR i.customer_id = $2)
             AND ($3::text[] IS NULL OR i.customer_id = ANY($3))""",
        period,
        customer_id,
        scope,
    )
    return {(r["customer_id"], r["currency"]): (r["invoice_id"], r["revenue"]) for r in rows}


async def margins(
    conn: asyncpg.Connection,
    *,
    period: str,
    customer_id: str | None,
    scope: list[str] | None,
    rates: CostRates,
) -> list[dict[str, Any]]:
    work = await _work(conn, period=period, customer_id=customer_id, scope=scope)
    revenue = await _revenue(conn, period=period, customer_id=customer_id, scope=scope)
    out = []
    for customer, currency in sorted(set(work) | set(revenue)):
        invoice_id, amount = revenue.get((customer, currency), (None, Decimal(0)))
        m = customer_margin(
            customer_id=customer, period=period, currency=currency, revenue=amount,
            work=work.get((customer, currency), []), rates=rates,
        )  # fmt: skip
        out.append(margin_row(m, invoice_id=invoice_id))
    return out


def _hours(minutes: int) -> str:
    return money((Decimal(minutes) / 60).quantize(Decimal("0.01")))


def margin_row(m: CustomerMargin, *, invoice_id: str | None) -> dict[str, Any]:
    ratio = m.margin_ratio
    return {
        "customer_id": m.customer_id,
        "period": m.period,
        "currency": m.currency,
        "invoice_id": invoice_id,
        "revenue": money(m.revenue),
        "cost": money(m.cost),
        "margin": money(m.margin),
        "margin_ratio": None if ratio is None else money(ratio),
        "hours_worked": _hours(sum(m.minutes_by_classification.values())),
        "uncosted_hours": _hours(m.uncosted_minutes),
        "hours_by_classification": {k: _hours(v) for k, v in m.minutes_by_classification.items()},
        "cost_by_classification": {k: money(v) for k, v in m.cost_by_classification.items()},
    }


async def technicians(
    conn: asyncpg.Connection, *, period: str, scope: list[str] | None
) -> list[dict[str, Any]]:
    work = await _work(conn, period=period, customer_id=None, scope=scope)
    return [utilisation_row(u) for u in utilisation(w for ws in work.values() for w in ws)]


def utilisation_row(u: Utilisation) -> dict[str, Any]:
    kinds = u.minutes_by_classification
    ratio = u.billable_ratio
    return {
        "technician_id": u.technician_id,
        "hours_worked": _hours(u.worked_minutes),
        "billable_hours": _hours(u.billable_minutes),
        "covered_hours": _hours(kinds.get("covered", 0)),
        "project_hours": _hours(kinds.get("project", 0)),
        "billable_ratio": None if ratio is None else money(ratio),
        "hours_by_classification": {k: _hours(v) for k, v in kinds.items()},
    }
