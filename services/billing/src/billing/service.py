"""Billing's state changes: recording classified entries, reclassifying held work
(by a person, by a late change-order decision, by a credit note), the invoice run and
credit notes. Keyword-only functions; the CALLER owns the transaction, and every
output goes through the `Sink` (the outbox) in that same transaction."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from billing import metrics, periods, store
from billing.budgets import BudgetLeft
from billing.classification import ChangeOrder, Decision
from billing.contracts import ContractState
from billing.credit_notes import build_credit_note, credit_note_id
from billing.included_hours import CoveredLine, Settlement, apply_allowance
from billing.line_items import (
    OVER_BUDGET,
    billing_period,
    build_budgeted_line_items,
    line_item_id,
    pricing_version,
)
from billing.outputs import Sink
from billing.pricing import price_entry
from billing.store import Entry, LineRow
from msp_events.types.billing import (
    Classification,
    CreditNoteIssued,
    InvoiceIssued,
    LineItemReclassified,
    LineItemRecorded,
    price,
)

log = logging.getLogger(__name__)

HELD = ("scope_creep", "held_review")


class Conflict(ValueError):
    """The request contradicts the state (e.g. reclassifying an invoiced line)."""


class NotFound(LookupError):
    pass


def count(items: Sequence[LineItemRecorded]) -> None:
    # Summed per label first: one counter update per label set, not per line.
    lines: Counter[str] = Counter()
    minutes: Counter[str] = Counter()
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    held: Counter[str] = Counter()
    for item in items:
        kind = item.classification
        lines[kind] += 1
        minutes[kind] += item.minutes_worked
        amounts[(kind, item.currency)] += item.amount
        if kind in HELD:
            held[item.rule] += 1
    for label, n in lines.items():
        metrics.LINE_ITEMS.labels(label).inc(n)
        metrics.MINUTES.labels(label).inc(minutes[label])
    for (label, currency), amount in amounts.items():
        metrics.AMOUNT.labels(label, currency).inc(float(amount))
    for rule, n in held.items():
        metrics.HELD.labels(rule).inc(n)
    if minutes["scope_creep"]:
        metrics.SCOPE_CREEP_MINUTES.inc(minutes["scope_creep"])


def rows_for(
    entry: Entry,
    items: Sequence[LineItemRecorded],
    revision: int,
    payloads: Sequence[str | None] | None = None,
) -> list[LineRow]:
    """The `line_items` rows of an entry's items; `payloads`: their JSON where already
    written (what `Sink.line_item` returned)."""
    written = payloads if payloads is not None else [None] * len(items)
    return [
        LineRow(
            entry.customer_id, item, entry.event_id, i, entry.data.work_category, revision, json
        )
        for i, (item, json) in enumerate(zip(items, written, strict=True))
    ]


async def rerecord_entry(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    entry: Entry,
    decision: Decision,
    contract: ContractState,
    last_closed: str | None,
    by: str,
    at: dt.datetime,
    require_held: bool = True,
    budgets: Budgets | None = None,
    order: ChangeOrder | None = None,
) -> list[LineItemRecorded]:
    """Re-classify a whole entry: an audited `LineItemReclassified` plus the new
    `LineItemRecorded` records (same ids; segment count can only grow). With `budgets`
    and the authorising `order`, billed work is split at what is left of its budget."""
    old = await store.entry_line_items(
        conn, customer_id=entry.customer_id, entry_id=entry.data.entry_id
    )
    if not old:
        raise NotFound(f"entry {entry.data.entry_id} has no line items")
    if any(r["invoice_id"] for r in old):
        raise Conflict("the entry is on an invoice: credit it first (POST .../credit-notes)")
    if require_held and any(r["classification"] not in HELD for r in old):
        raise Conflict(
            f"only held work is reclassified; entry {entry.data.entry_id} is "
            f"{', '.join(sorted({r['classification'] for r in old}))}"
        )
    revision = max(r["revision"] for r in old) + 1
    budget = await budgets.left(conn, entry.customer_id, order) if budgets and order else None
    items, after = build_budgeted_line_items(
        entry.data,
        source_event_id=entry.event_id,
        decision=decision,
        contract=contract,
        last_closed=last_closed,
        budget=budget,
    )
    if budgets is not None and order is not None and after is not None:
        budgets.spent(entry.customer_id, order, after)
    # A contract amendment can reduce the segment count; surplus old lines go to zero.
    for r in old[len(items) :]:
        stale = store.parse_line_item(r["payload"])
        items.append(
            stale.model_copy(
                update={
                    "classification": "held_review",
                    "rule": "superseded",
                    "reason": f"superseded by the reclassification of entry {stale.entry_id}",
                    "minutes_billed": 0,
                    "amount": Decimal(0),
                }
            )
        )
    first = items[0]
    sink.reclassified(
        LineItemReclassified(
            line_item_id=first.line_item_id,
            line_item_ids=[i.line_item_id for i in items],
            entry_id=entry.data.entry_id,
            ticket_id=entry.data.ticket_id,
            from_classification=old[0]["classification"],
            to_classification=decision.kind,
            rule=decision.rule,
            reason=decision.reason[:2000],
            reclassified_by=by,
            reclassified_at=at,
            change_order_id=decision.change_order_id,
        ),
        customer_id=entry.customer_id,
        revision=revision,
    )
    payloads = [
        sink.line_item(item, customer_id=entry.customer_id, time=at, revision=revision)
        for item in items
    ]
    await store.save_line_items(conn, rows=rows_for(entry, items, revision, payloads))
    metrics.RECLASSIFIED.labels(decision.rule).inc()
    count(items)
    return items


class Budgets:
    """What is left of each change order's budget within one transaction: read from
    the recorded project lines the first time, then kept as entries are recorded (the
    batch's own lines are saved only at its end)."""

    def __init__(self) -> None:
        self._left: dict[tuple[str, str], BudgetLeft] = {}

    async def left(
        self, conn: asyncpg.Connection, customer_id: str, order: ChangeOrder
    ) -> BudgetLeft | None:
        if order.budget_minutes is None and order.budget_amount is None:
            return None
        key = (customer_id, order.change_order_id)
        if key not in self._left:
            minutes, amount = await store.budget_used(
                conn, customer_id=customer_id, change_order_id=order.change_order_id
            )
            self._left[key] = BudgetLeft(
                None if order.budget_minutes is None else order.budget_minutes - minutes,
                None if order.budget_amount is None else order.budget_amount - amount,
            )
        return self._left[key]

    def spent(self, customer_id: str, order: ChangeOrder, left: BudgetLeft) -> None:
        self._left[(customer_id, order.change_order_id)] = left


def held_minutes(items: Sequence[LineItemRecorded]) -> int:
    return sum(i.minutes_worked for i in items if i.rule == OVER_BUDGET)


async def release_overrun(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    customer_id: str,
    order: ChangeOrder,
) -> int:
    """The customer approved the overrun: the work held beyond the change order's
    budget that ended by `overrun_approved_at` becomes billable project work (audited,
    per line, at the approval's event time so every path gives the same records).
    Returns how many lines were released."""
    if order.overrun_approved_at is None or order.overrun_decided_at is None:
        return 0
    at = order.overrun_decided_at
    rows = await store.held_over_budget(
        conn, customer_id=customer_id, change_order_id=order.change_order_id
    )
    if not rows:
        return 0
    contract = (await store.load_contracts(conn, customer_ids=[customer_id]))[customer_id]
    last_closed = (await store.last_closed_periods(conn, customer_ids=[customer_id])).get(
        customer_id
    )
    saved: list[LineRow] = []
    for r in rows:
        entry = await store.load_entry(conn, customer_id=customer_id, entry_id=r["entry_id"])
        if not order.overrun_approved(entry.data):
            continue
        old = store.parse_line_item(r["payload"])
        version = pricing_version(contract, entry.data)
        segments = price_entry(entry.data, version, billed=True)
        # a split segment's held part has an index past the segments (budgets.py): its
        # multiplier is that of the segment it was split from, the entry's last billed one
        index = r["segment"] if r["segment"] < len(segments) else r["last_billed_segment"]
        multiplier = segments[index].multiplier
        period, prior = billing_period(old.work_date, last_closed)
        reason = (
            f"overrun of change order {order.change_order_id} approved: "
            f"{order.overrun_reason}; billed as project work"
        )[:2000]
        item = LineItemRecorded.model_validate(
            {
                **old.model_dump(),
                "classification": "project",
                "rule": "change_order_overrun_approved",
                "reason": reason,
                "minutes_billed": old.minutes_worked,
                "multiplier": multiplier,
                "amount": price(old.rate, multiplier, old.minutes_worked, old.currency),
                "period": period,
                "prior_period": prior,
            }
        )
        saved.append(
            _move_line(
                sink,
                customer_id=customer_id,
                row=r,
                item=item,
                from_classification="scope_creep",
                by=f"change-order:{order.change_order_id}",
                at=at,
                change_order_id=order.change_order_id,
            )
        )
    await store.save_line_items(conn, rows=saved)
    metrics.RECLASSIFIED.labels("change_order_overrun_approved").inc(len(saved))
    count([s.item for s in saved])
    return len(saved)


def release_decision(order: ChangeOrder) -> Decision:
    return Decision(
        "project",
        "late_change_order_approval",
        f"change order {order.change_order_id} approved after the work was recorded: "
        "released from scope creep as billable project work",
        order.change_order_id,
    )


async def apply_change_order(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    customer_id: str,
    order: ChangeOrder,
    at: dt.datetime,
) -> int:
    """A late approval releases the held scope creep it authorises (to billable
    project work); a rejection or withdrawal turns the not-yet-invoiced project work it
    authorised back into scope creep. Returns how many entries changed."""
    contracts = await store.load_contracts(conn, customer_ids=[customer_id])
    contract = contracts.get(customer_id)
    if contract is None:
        return 0
    if order.approved:  # held over a budget waits for its overrun approval instead
        where = f"classification = 'scope_creep' AND rule <> '{OVER_BUDGET}'"
    else:
        where = "classification = 'project' AND change_order_id = $2"
    # In arrival order (entries.seq): budgets are consumed in the order work is recorded.
    rows = await conn.fetch(
        f"""SELECT l.entry_id FROM line_items l JOIN entries e USING (customer_id, entry_id)
            WHERE l.customer_id = $1 AND {where}
            AND l.invoice_id IS NULL AND l.segment = 0 AND ($2::text IS NOT NULL)
            ORDER BY e.seq""",
        customer_id,
        order.change_order_id,
    )
    last_closed = (await store.last_closed_periods(conn, customer_ids=[customer_id])).get(
        customer_id
    )
    changed = 0
    budgets = Budgets()
    for row in rows:
        entry = await store.load_entry(conn, customer_id=customer_id, entry_id=row["entry_id"])
        if order.approved:
            if not order.authorises(entry.data):
                continue
            decision = release_decision(order)
        else:
            decision = Decision(
                "scope_creep",
                "change_order_rejected",
                f"change order {order.change_order_id} was rejected or withdrawn: {order.note}",
                order.change_order_id,
            )
        try:
            await rerecord_entry(
                conn,
                sink,
                entry=entry,
                decision=decision,
                contract=contract,
                last_closed=last_closed,
                by=f"change-order:{order.change_order_id}",
                at=at,
                require_held=order.approved,
                budgets=budgets if order.approved else None,
                order=order,
            )
        except Conflict as exc:  # partly invoiced: a person decides (credit note first)
            log.warning(
                "change order %s not applied to entry %s: %s",
                order.change_order_id,
                entry.data.entry_id,
                exc,
                extra={"event_id": entry.event_id},
            )
            continue
        changed += 1
    if order.approved:  # work held over the budget by this release, already approved
        stored = await stored_order(conn, customer_id=customer_id, order_id=order.change_order_id)
        if stored is not None:
            await release_overrun(conn, sink, customer_id=customer_id, order=stored)
    return changed


async def stored_order(
    conn: asyncpg.Connection, *, customer_id: str, order_id: str
) -> ChangeOrder | None:
    orders = (await store.load_change_orders(conn, customer_ids=[customer_id])).get(customer_id)
    return next((co for co in orders or () if co.change_order_id == order_id), None)


async def reclassify(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    line_item_id: str,
    decision: Decision,
    by: str,
    at: dt.datetime,
    scope: Sequence[str] | None = None,
) -> list[LineItemRecorded]:
    """A person's decision on held work (from the review queue). `scope`: the customers
    the caller may act for (None: all); another customer's line is not found."""
    row = await conn.fetchrow(
        "SELECT customer_id, entry_id FROM line_items WHERE line_item_id = $1", line_item_id
    )
    if row is None or (scope is not None and row["customer_id"] not in scope):
        raise NotFound(f"line item {line_item_id} not found")
    customer_id = row["customer_id"]
    contract = (await store.load_contracts(conn, customer_ids=[customer_id]))[customer_id]
    last_closed = (await store.last_closed_periods(conn, customer_ids=[customer_id])).get(
        customer_id
    )
    entry = await store.load_entry(conn, customer_id=customer_id, entry_id=row["entry_id"])
    return await rerecord_entry(
        conn,
        sink,
        entry=entry,
        decision=decision,
        contract=contract,
        last_closed=last_closed,
        by=by,
        at=at,
    )


async def issue_credit_note(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    invoice_id: str,
    line_ids: Sequence[str],
    reason: str,
    by: str,
    at: dt.datetime,
    scope: Sequence[str] | None = None,
) -> tuple[CreditNoteIssued, bool]:
    """Credit whole invoice lines; the line items behind them go back to review (held,
    unbilled, next open period). Returns (note, created_now). `scope`: the customers
    the caller may act for (None: all); another customer's invoice is not found."""
    row = await conn.fetchrow(
        "SELECT customer_id, payload::text AS payload FROM invoices WHERE invoice_id = $1 "
        "FOR UPDATE",
        invoice_id,
    )
    if row is None or (scope is not None and row["customer_id"] not in scope):
        raise NotFound(f"invoice {invoice_id} not found")
    invoice = InvoiceIssued.model_validate_json(row["payload"])
    customer_id = row["customer_id"]
    credited = {
        r["line_id"]: r["credit_note_id"]
        for r in await conn.fetch(
            "SELECT line_id, credit_note_id FROM credited_lines WHERE invoice_id = $1", invoice_id
        )
    }
    try:
        note, released = build_credit_note(
            invoice,
            line_ids=line_ids,
            reason=reason,
            issued_at=at,
            already_credited=set(credited),
        )
    except ValueError:
        existing = await conn.fetchval(
            "SELECT payload::text FROM credit_notes WHERE credit_note_id = $1",
            credit_note_id(invoice_id, line_ids),
        )
        if existing is not None:  # the same request again: the same note
            return CreditNoteIssued.model_validate_json(existing), False
        raise
    await conn.execute(
        """INSERT INTO credit_notes (credit_note_id, invoice_id, customer_id, total, issued_at,
               payload) VALUES ($1, $2, $3, $4, $5, $6)""",
        note.credit_note_id,
        invoice_id,
        customer_id,
        note.total,
        at,
        note.model_dump_json(),
    )
    await conn.executemany(
        "INSERT INTO credited_lines (invoice_id, line_id, credit_note_id) VALUES ($1, $2, $3)",
        [(invoice_id, line_id, note.credit_note_id) for line_id in dict.fromkeys(line_ids)],
    )
    sink.emit(
        note, customer_id=customer_id, time=at, subject=note.credit_note_id, id=note.credit_note_id
    )
    await _release(conn, sink, customer_id=customer_id, ids=released, note=note, by=by, at=at)
    metrics.CREDIT_NOTES.inc()
    return note, True


async def _release(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    customer_id: str,
    ids: Sequence[str],
    note: CreditNoteIssued,
    by: str,
    at: dt.datetime,
) -> None:
    """Exactly the credited line items go back to review, unbilled."""
    if not ids:
        return
    rows = await conn.fetch(
        """SELECT line_item_id, source_event_id, segment, work_category, revision,
                  payload::text AS payload FROM line_items WHERE line_item_id = ANY($1)
           ORDER BY line_item_id FOR UPDATE""",
        list(ids),
    )
    last_closed = (await store.last_closed_periods(conn, customer_ids=[customer_id])).get(
        customer_id
    )
    saved = []
    for r in rows:
        old = store.parse_line_item(r["payload"])
        period, prior = billing_period(old.work_date, last_closed)
        reason = f"credited by credit note {note.credit_note_id}: {note.reason}"[:2000]
        item = old.model_copy(
            update={
                "classification": "held_review",
                "rule": "credited",
                "reason": reason,
                "minutes_billed": 0,
                "amount": Decimal(0),
                "multiplier": Decimal(1),
                "period": period,
                "prior_period": prior,
            }
        )
        item = LineItemRecorded.model_validate(item.model_dump())  # re-check the rules
        saved.append(
            _move_line(
                sink,
                customer_id=customer_id,
                row=r,
                item=item,
                from_classification=old.classification,
                by=by,
                at=at,
                credit_note_id=note.credit_note_id,
            )
        )
    await store.save_line_items(conn, rows=saved)
    count([s.item for s in saved])


def _move_line(
    sink: Sink,
    *,
    customer_id: str,
    row: asyncpg.Record,
    item: LineItemRecorded,
    from_classification: Classification,
    by: str,
    at: dt.datetime,
    change_order_id: str | None = None,
    credit_note_id: str | None = None,
) -> LineRow:
    """One stored line moved to `item`'s bucket (an overrun released, a credit): the
    audit event and the line's next revision on the outbox, and the row to save (same
    source event, segment and category as the stored one)."""
    revision = row["revision"] + 1
    sink.reclassified(
        LineItemReclassified(
            line_item_id=item.line_item_id,
            line_item_ids=[item.line_item_id],
            entry_id=item.entry_id,
            ticket_id=item.ticket_id,
            from_classification=from_classification,
            to_classification=item.classification,
            rule=item.rule,
            reason=item.reason,
            reclassified_by=by,
            reclassified_at=at,
            change_order_id=change_order_id,
            credit_note_id=credit_note_id,
        ),
        customer_id=customer_id,
        revision=revision,
    )
    payload = sink.line_item(item, customer_id=customer_id, time=at, revision=revision)
    return LineRow(
        customer_id,
        item,
        row["source_event_id"],
        row["segment"],
        row["work_category"],
        revision,
        payload,
    )


async def settle_included_hours(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    contracts: dict[str, ContractState],
    period: str,
    at: dt.datetime,
) -> dict[str, Settlement]:
    """At the invoice run, before the invoice is built: each customer's included hours
    for the period (`included_hours.apply_allowance`). Covered work beyond the allowance
    is reclassified to `overage` (audited, like every change of bucket), so the invoice
    and the ledger carry it; the settlement is stored for the next month's rollover."""
    # A customer settled by an earlier run whose invoice failed keeps that settlement
    # (its overage lines are recorded and wait for the invoice): never settled twice.
    done = await store.included_hours(conn, customer_ids=sorted(contracts), period=period)
    customers = sorted(set(contracts) - set(done))
    rows = await store.covered_lines(conn, customer_ids=customers, period=period)
    lines: dict[str, list[tuple[CoveredLine, asyncpg.Record]]] = defaultdict(list)
    for r in rows:
        item = store.parse_line_item(r["payload"])
        lines[r["customer_id"]].append(
            (CoveredLine(item, r["work_category"], r["next_segment"]), r)
        )
    carried = await store.rollovers(
        conn, customer_ids=customers, period=periods.previous_period(period)
    )
    settled: dict[str, Settlement] = {}
    for customer in customers:
        found = lines.get(customer, [])
        applied = apply_allowance(
            contract=contracts[customer],
            period=period,
            lines=[line for line, _ in found],
            rollover_in=carried.get(customer, 0),
        )
        if applied is None:
            continue
        settlement, changes = applied
        by_id = {line.item.line_item_id: r for line, r in found}
        saved: list[LineRow] = []
        for change in changes:
            r = by_id[change.old.line_item_id]
            revision = r["revision"] + 1
            first = change.items[-1]  # the overage line: what the change is about
            sink.reclassified(
                LineItemReclassified(
                    line_item_id=change.old.line_item_id,
                    line_item_ids=[i.line_item_id for i in change.items],
                    entry_id=change.old.entry_id,
                    ticket_id=change.old.ticket_id,
                    from_classification="covered",
                    to_classification="overage",
                    rule=first.rule,
                    reason=first.reason,
                    reclassified_by="invoice-run",
                    reclassified_at=at,
                ),
                customer_id=customer,
                revision=revision,
            )
            for index, item in enumerate(change.items):
                payload = sink.line_item(item, customer_id=customer, time=at, revision=revision)
                segment = r["segment"] if index == 0 else r["next_segment"]
                saved.append(
                    LineRow(
                        customer,
                        item,
                        r["source_event_id"],
                        segment,
                        r["work_category"],
                        revision,
                        payload,
                    )
                )
        await store.save_line_items(conn, rows=saved)
        await store.save_included_hours(
            conn, customer_id=customer, period=period, settlement=settlement, at=at
        )
        metrics.OVERAGE_MINUTES.inc(settlement.overage)
        settled[customer] = settlement
    return settled


__all__ = ["Conflict", "NotFound", "line_item_id"]
