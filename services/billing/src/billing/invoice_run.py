"""The monthly invoice run: `run_invoices(...)`, set-based so 1,000 customers take a
handful of queries, not thousands.

Per customer and period, exactly once: the run closes the period (`closed_periods`),
stores the invoice, marks the invoiced line items and emits `InvoiceIssued` through
the outbox, all in the caller's transaction. A rerun finds the period closed and
returns the same invoice id and amounts without emitting anything. Work dated in a
closed period that arrives (or is released) later is billed in the next open period as
a prior-period line (line_items.py). A period is only run once it has ended in the
customer's time zone. Per-device and per-user fees count the assets seen in the period
(counts.py), read here from what the consumer stored (assets.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from billing import assets, metrics, service, store
from billing.counts import seen_by_kind
from billing.invoice import INVOICED, AccountingCodes, build_invoice
from billing.outputs import Sink
from billing.periods import days_of, local_midnight, next_period
from msp_events.types.billing import InvoiceIssued, LineItemRecorded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    customer_id: str
    outcome: str  # issued / already_issued / nothing_to_invoice / period_not_ended / failed
    invoice_id: str | None = None
    total: str | None = None
    currency: str | None = None
    detail: str | None = None


# The columns an invoice needs, typed by Postgres. They were validated when recorded,
# so the run builds the models without re-validating tens of thousands of rows.
_ITEM_FIELDS = """line_item_id, entry_id, ticket_id, classification, rule, reason, work_date,
    period, prior_period, minutes_worked, minutes_billed, currency, amount, change_order_id,
    (payload->>'rate')::numeric AS rate, (payload->>'multiplier')::numeric AS multiplier"""


def _item(row: asyncpg.Record) -> LineItemRecorded:
    fields = dict(row)
    del fields["customer_id"]
    return LineItemRecorded.model_construct(**fields)


def _period_end(period: str, timezone: str) -> dt.datetime:
    return local_midnight(days_of(next_period(period))[0], timezone)


async def run_invoices(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    period: str,
    customer_ids: Sequence[str] | None,
    issued_at: dt.datetime,
    codes: AccountingCodes,
) -> list[RunOutcome]:
    contracts = await store.load_contracts(conn, customer_ids=customer_ids)
    outcomes: list[RunOutcome] = []
    for missing in sorted(set(customer_ids or ()) - set(contracts)):
        outcomes.append(RunOutcome(missing, "failed", detail="no contract known"))
    customers = sorted(contracts)
    closed = {
        r["customer_id"]: r
        for r in await conn.fetch(
            """SELECT c.customer_id, c.invoice_id, i.total, i.currency FROM closed_periods c
               LEFT JOIN invoices i USING (invoice_id)
               WHERE c.customer_id = ANY($1) AND c.period = $2""",
            customers,
            period,
        )
    }
    todo = []
    for customer in customers:
        if customer in closed:
            r = closed[customer]
            outcomes.append(
                RunOutcome(
                    customer,
                    "already_issued" if r["invoice_id"] else "nothing_to_invoice",
                    r["invoice_id"],
                    store.money(r["total"]) if r["total"] is not None else None,
                    r["currency"],
                )
            )
        elif _period_end(period, contracts[customer].versions[-1].timezone) > issued_at:
            outcomes.append(RunOutcome(customer, "period_not_ended"))
        else:
            todo.append(customer)
    # Included hours first: the overage lines it records are invoiced below.
    await service.settle_included_hours(
        conn, sink, contracts={c: contracts[c] for c in todo}, period=period, at=issued_at
    )
    rows = await conn.fetch(
        f"""SELECT customer_id, {_ITEM_FIELDS} FROM line_items
            WHERE customer_id = ANY($1) AND period = $2 AND invoice_id IS NULL
              AND classification = ANY($3) ORDER BY customer_id, line_item_id FOR UPDATE""",
        todo,
        period,
        sorted(INVOICED),
    )
    items: dict[str, list[LineItemRecorded]] = {}
    for r in rows:
        items.setdefault(r["customer_id"], []).append(_item(r))
    # The assets seen in the period, for per-device / per-user fees (counts.py).
    sightings = await assets.load_sightings(conn, customer_ids=todo, period=period)
    invoices: list[tuple[str, InvoiceIssued]] = []
    empty: list[str] = []
    for customer in todo:
        zone = contracts[customer].versions[-1].timezone
        try:
            invoice = build_invoice(
                customer_id=customer,
                period=period,
                contract=contracts[customer],
                items=items.get(customer, []),
                issued_at=issued_at,
                codes=codes,
                seen=seen_by_kind(sightings.get(customer, ()), timezone=zone),
            )
        except ValueError as exc:
            log.error("invoice for %s %s failed: %s", customer, period, exc)
            outcomes.append(RunOutcome(customer, "failed", detail=str(exc)))
            continue
        if invoice is None:
            empty.append(customer)
            outcomes.append(RunOutcome(customer, "nothing_to_invoice"))
        else:
            invoices.append((customer, invoice))
            outcomes.append(
                RunOutcome(
                    customer,
                    "issued",
                    invoice.invoice_id,
                    store.money(invoice.total),
                    invoice.currency,
                )
            )
    await _store(conn, period=period, invoices=invoices, empty=empty, at=issued_at)
    for customer, invoice in invoices:
        sink.emit(
            invoice,
            customer_id=customer,
            time=issued_at,
            subject=invoice.invoice_id,
            id=invoice.invoice_id,
        )
    metrics.INVOICE_RUNS.inc()
    for o in outcomes:
        metrics.INVOICES.labels(o.outcome).inc()
    return sorted(outcomes, key=lambda o: o.customer_id)


async def _store(
    conn: asyncpg.Connection,
    *,
    period: str,
    invoices: list[tuple[str, InvoiceIssued]],
    empty: list[str],
    at: dt.datetime,
) -> None:
    if invoices:
        await conn.execute(
            """INSERT INTO invoices (invoice_id, customer_id, period, currency, total,
                   issued_at, payload)
               SELECT i, c, $3, cur, t, $4, p::jsonb FROM unnest($1::text[], $2::text[],
                   $5::text[], $6::numeric[], $7::text[]) AS r(i, c, cur, t, p)""",
            [inv.invoice_id for _, inv in invoices],
            [c for c, _ in invoices],
            period,
            at,
            [inv.currency for _, inv in invoices],
            [inv.total for _, inv in invoices],
            [inv.model_dump_json() for _, inv in invoices],
        )
        pairs = [
            (inv.invoice_id, source)
            for _, inv in invoices
            for line in inv.lines
            for source in line.source_line_item_ids
        ]
        if pairs:
            await conn.execute(
                """UPDATE line_items l SET invoice_id = r.i
                   FROM unnest($1::text[], $2::text[]) AS r(i, li)
                   WHERE l.line_item_id = r.li""",
                [p[0] for p in pairs],
                [p[1] for p in pairs],
            )
    closing = [(c, inv.invoice_id) for c, inv in invoices] + [(c, None) for c in empty]
    if closing:
        await conn.execute(
            """INSERT INTO closed_periods (customer_id, period, invoice_id, closed_at)
               SELECT c, $3, i, $4 FROM unnest($1::text[], $2::text[]) AS r(c, i)""",
            [c for c, _ in closing],
            [i for _, i in closing],
            period,
            at,
        )
