"""Read-only reports for the API: the ledger, the scope-creep report, covered-vs-
billable hours and the review queue. Plain SQL over `line_items` (the latest outcome of
every line); amounts are strings (Decimal on the wire)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from billing import assets, store
from billing.counts import seen_by_kind
from billing.proration import prorate_flat_fee
from billing.store import money
from msp_events.types.billing import round_money

HUNDREDTH = Decimal("0.01")


def _line(row: asyncpg.Record) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(row["payload"])
    item.update(
        customer_id=row["customer_id"],
        work_category=row["work_category"],
        revision=row["revision"],
        invoice_id=row["invoice_id"],
    )
    return item


def _hours(minutes: int) -> str:
    return money((Decimal(minutes) / 60).quantize(HUNDREDTH, ROUND_HALF_UP))  # hours


_COLUMNS = "customer_id, work_category, revision, invoice_id, payload::text AS payload"


async def ledger(
    conn: asyncpg.Connection, *, customer_id: str, period: str
) -> list[dict[str, Any]]:
    """Every line billed in the period (incl. prior-period lines), with rule and reason."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM line_items WHERE customer_id = $1 AND period = $2
            ORDER BY work_date, entry_id, segment""",
        customer_id,
        period,
    )
    return [_line(r) for r in rows]


async def review_queue(
    conn: asyncpg.Connection, *, customer_id: str | None, scope: list[str] | None = None
) -> list[dict[str, Any]]:
    """Work waiting for a person's decision. `scope` (here and below): the customers the
    caller may see, None for all."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM line_items
            WHERE classification IN ('scope_creep', 'held_review') AND rule <> 'superseded'
              AND ($1::text IS NULL OR customer_id = $1)
              AND ($2::text[] IS NULL OR customer_id = ANY($2))
            ORDER BY customer_id, work_date, entry_id, segment""",
        customer_id,
        scope,
    )
    return [_line(r) for r in rows]


async def scope_creep(
    conn: asyncpg.Connection,
    *,
    customer_id: str | None,
    period: str | None,
    scope: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Held project work per customer, per ticket: out of scope without an approved
    change order (`no_change_order`, `change_order_rejected`), or beyond an approved
    change order's budget (`change_order_budget_exceeded`, until its overrun is
    approved), with the rules and change orders involved."""
    rows = await conn.fetch(
        """SELECT l.customer_id, l.ticket_id, t.title, sum(l.minutes_worked) AS minutes,
                  array_agg(DISTINCT l.entry_id ORDER BY l.entry_id) AS entries,
                  array_agg(DISTINCT l.rule ORDER BY l.rule) AS rules,
                  array_remove(array_agg(DISTINCT l.change_order_id
                               ORDER BY l.change_order_id), NULL) AS change_orders
           FROM line_items l LEFT JOIN tickets t USING (customer_id, ticket_id)
           WHERE l.classification = 'scope_creep'
             AND ($1::text IS NULL OR l.customer_id = $1)
             AND ($2::text IS NULL OR to_char(l.work_date, 'YYYY-MM') = $2)
             AND ($3::text[] IS NULL OR l.customer_id = ANY($3))
           GROUP BY l.customer_id, l.ticket_id, t.title ORDER BY l.customer_id, l.ticket_id""",
        customer_id,
        period,
        scope,
    )
    report: dict[str, dict[str, Any]] = {}
    for r in rows:
        customer = report.setdefault(
            r["customer_id"], {"customer_id": r["customer_id"], "minutes": 0, "tickets": []}
        )
        customer["minutes"] += r["minutes"]
        customer["tickets"].append(
            {
                "ticket_id": r["ticket_id"],
                "title": r["title"],
                "minutes": r["minutes"],
                "entries": list(r["entries"]),
                "rules": list(r["rules"]),
                "change_orders": list(r["change_orders"]),
            }
        )
    for customer in report.values():
        customer["hours"] = _hours(customer["minutes"])
    return list(report.values())


async def hours(
    conn: asyncpg.Connection,
    *,
    customer_id: str | None,
    period: str | None,
    scope: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Covered vs billable (and the rest) per customer: what the flat fee bought."""
    rows = await conn.fetch(
        """SELECT customer_id, classification, sum(minutes_worked) AS worked,
                  sum(minutes_billed) AS billed, sum(amount) AS amount, min(currency) AS currency
           FROM line_items
           WHERE ($1::text IS NULL OR customer_id = $1)
             AND ($2::text IS NULL OR to_char(work_date, 'YYYY-MM') = $2)
             AND rule <> 'superseded'
             AND ($3::text[] IS NULL OR customer_id = ANY($3))
           GROUP BY customer_id, classification ORDER BY customer_id, classification""",
        customer_id,
        period,
        scope,
    )
    report: dict[str, dict[str, Any]] = {}
    covered_minutes: dict[str, int] = {}
    for r in rows:
        customer = report.setdefault(
            r["customer_id"], {"customer_id": r["customer_id"], "by_classification": {}}
        )
        if r["classification"] == "covered":
            covered_minutes[r["customer_id"]] = r["worked"]
        customer["by_classification"][r["classification"]] = {
            "hours_worked": _hours(r["worked"]),
            "hours_billed": _hours(r["billed"]),
            "amount": money(r["amount"]),
            "currency": r["currency"],
        }
    for customer in report.values():
        kinds = customer["by_classification"]
        covered = Decimal(kinds.get("covered", {}).get("hours_worked", "0"))
        billable = sum(
            (
                Decimal(kinds.get(k, {}).get("hours_worked", "0"))
                for k in ("project", "on_demand", "overage")
            ),
            Decimal(0),
        )
        customer["covered_hours"] = money(covered)
        customer["billable_hours"] = money(billable)
        customer["overage_hours"] = kinds.get("overage", {}).get("hours_worked", "0.00")
    if period is not None:  # what the flat fee bought: the fee per covered hour
        contracts = await store.load_contracts(conn, customer_ids=list(report))
        settled = await store.included_hours(conn, customer_ids=list(report), period=period)
        for customer_id, row in settled.items():  # once the period's invoice run happened
            report[customer_id]["included_hours"] = {
                "allowance_hours": _hours(row["allowance_minutes"]),
                "rollover_in_hours": _hours(row["rollover_in"]),
                "used_hours": _hours(row["used_minutes"]),
                "overage_hours": _hours(row["overage_minutes"]),
                "rollover_out_hours": _hours(row["rollover_out"]),
            }
        # the fee as invoiced: per-device / per-user fees at the counts seen (counts.py)
        sightings = await assets.load_sightings(conn, customer_ids=list(report), period=period)
        for customer_id, customer in report.items():
            contract = contracts.get(customer_id)
            if contract is None:
                continue
            zone = contract.versions[-1].timezone
            seen = seen_by_kind(sightings.get(customer_id, ()), timezone=zone)
            fee = sum(
                (p.amount for p in prorate_flat_fee(contract, period, zone, seen)),
                Decimal(0),
            )
            minutes = covered_minutes.get(customer_id, 0)
            customer["flat_fee"] = money(fee)
            customer["flat_fee_per_covered_hour"] = (
                money(round_money(fee * 60 / minutes, contract.versions[-1].rates.currency))
                if minutes
                else None
            )
    return list(report.values())
