"""The Kafka side: one batch handler over contracts, change orders, tickets and
monitoring (only the devices and users seen, for counted fees: assets.py).

Per batch, in one transaction (the plumbing's; offsets and outbox included):
1. context first: contracts, tickets, assets seen, change orders (a late approval
   releases held scope creep; a rejection puts authorised, not-yet-invoiced work back to
   scope creep; an overrun approval releases work held beyond the change order's budget);
2. entries that waited for a contract that has now arrived, in arrival order, each on
   its own: one that fails is dead-lettered alone with its own bytes (it was parked,
   `Tx.park`), never the contract that released it;
3. the batch's new time entries, in order: classified, priced, split at what is left
   of their change order's budget (`budgets.py`), stored, and emitted as
   `LineItemRecorded` (ids derived from the entry's event id).

Decision (the issue was silent): an entry for a customer whose contract is not known
yet emits nothing and waits (`entries.pending`); it is classified when the contract
arrives, exactly as if the contract had come first, so a replay that reads the topics
in a different interleaving still produces the same lines. A change order approved
before its work but consumed after it is the one order-sensitive case: the work is
first held as scope creep and then released by an audited `LineItemReclassified`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from billing import assets, metrics, service, store
from billing.classification import (
    ChangeOrder,
    WorkContext,
    classify,
    entry_minutes,
    late_approval,
)
from billing.contracts import ContractState
from billing.counts import Sighting
from billing.line_items import build_budgeted_line_items
from billing.outputs import Sink
from billing.store import Entry, LineRow
from msp_events import Envelope
from msp_events.types.change_orders import (
    ChangeOrderApproved,
    ChangeOrderOverrunApproved,
    ChangeOrderRejected,
)
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.tickets import TicketCreated, TimeLogged
from msp_plumbing.consumer import TRANSIENT_ERRORS, BatchHandler, Tx

log = logging.getLogger(__name__)


def change_order(event: Envelope) -> ChangeOrder:
    data = event.data
    if isinstance(data, ChangeOrderRejected):
        return ChangeOrder(
            data.change_order_id, approved=False, note=data.reason, decided_at=event.time
        )
    assert isinstance(data, ChangeOrderApproved)
    return ChangeOrder(
        data.change_order_id,
        approved=True,
        ticket_ids=frozenset(data.ticket_ids),
        work_categories=frozenset(data.work_categories),
        approved_at=data.approved_at,
        valid_until=data.valid_until,
        note=data.scope,
        decided_at=event.time,
        budget_minutes=data.budget_minutes,
        budget_amount=data.budget_amount,
    )


def make_batch_handler(out_namespace: str) -> BatchHandler:
    known = assets.KnownSightings()  # this consumer's: learned from its own commits

    async def handle(tx: Tx, events: Sequence[Envelope]) -> None:
        await apply_batch(tx.conn, Sink(tx, out_namespace), events, known=known)

    return handle


async def apply_batch(
    conn: asyncpg.Connection,
    sink: Sink,
    events: Sequence[Envelope],
    *,
    known: assets.KnownSightings | None = None,
) -> None:
    await store.lock_periods(conn)
    entries: list[Entry] = []
    tickets: list[tuple[str, str, str, str]] = []
    contracted: list[str] = []
    orders: list[tuple[Envelope, ChangeOrder | None]] = []
    for event in events:
        data = event.data
        if isinstance(data, TimeLogged):
            entries.append(Entry(event.customer_id, event.id, event.time, data))
        elif isinstance(data, ContractSnapshot | ContractTerminated):
            await store.save_contract(
                conn, customer_id=event.customer_id, data=data, event_id=event.id
            )
            contracted.append(event.customer_id)
        elif isinstance(data, TicketCreated):
            tickets.append((event.customer_id, data.ticket_id, data.title, data.category))
        elif isinstance(data, ChangeOrderApproved | ChangeOrderRejected):
            orders.append((event, change_order(event)))
        elif isinstance(data, ChangeOrderOverrunApproved):
            orders.append((event, None))
    await store.save_tickets(conn, rows=tickets)
    await save_sightings(conn, sink, assets.sightings_of(events), known)
    for event, order in orders:
        if order is None:
            await approve_overrun(conn, sink, event)
            continue
        await store.save_change_order(
            conn, customer_id=event.customer_id, order=order, event_time=event.time
        )
        await service.apply_change_order(
            conn, sink, customer_id=event.customer_id, order=order, at=event.time
        )
    released = await store.take_pending_entries(conn, customer_ids=contracted) if contracted else []
    if released:
        await record_released(conn, sink, entries=released)
    todo: list[Entry] = []
    contracts: dict[str, ContractState] = {}
    if entries:
        contracts = await store.load_contracts(conn, customer_ids={e.customer_id for e in entries})
        waiting = [e.customer_id not in contracts for e in entries]
        new = await store.insert_entries(conn, entries=entries, pending=waiting)
        metrics.PENDING_ENTRIES.inc(sum(waiting))
        parked: list[str] = []
        for e, wait in zip(entries, waiting, strict=True):
            key = (e.customer_id, e.data.entry_id)
            if key not in new:
                continue  # an entry id seen before is a re-send
            new.discard(key)  # and so is a second copy in this batch
            if wait:
                parked.append(e.event_id)  # kept byte for byte until its contract arrives
            else:
                todo.append(e)
        await sink.tx.park(parked)
    if todo:  # every one has its contract among those just loaded (the same transaction)
        await record_entries(conn, sink, entries=todo, contracts=contracts)


async def save_sightings(
    conn: asyncpg.Connection,
    sink: Sink,
    sightings: dict[assets.Key, Sighting],
    known: assets.KnownSightings | None,
) -> None:
    """The batch's sightings in one upsert, less those its rows already hold."""
    if known is not None:
        sightings = known.unknown(sightings)
        sink.tx.on_commit.append(lambda: known.learn(sightings))
    await assets.save_sightings(conn, sightings=sightings)


async def approve_overrun(conn: asyncpg.Connection, sink: Sink, event: Envelope) -> None:
    """Keep the overrun approval and release the held work it covers."""
    data = event.data
    assert isinstance(data, ChangeOrderOverrunApproved)
    await store.save_overrun_approval(
        conn,
        customer_id=event.customer_id,
        change_order_id=data.change_order_id,
        approved_at=data.approved_at,
        reason=f"{data.reason} (approved by {data.approved_by})",
        event_time=event.time,
    )
    order = await service.stored_order(
        conn, customer_id=event.customer_id, order_id=data.change_order_id
    )
    if order is not None:
        await service.release_overrun(conn, sink, customer_id=event.customer_id, order=order)


async def record_released(
    conn: asyncpg.Connection, sink: Sink, *, entries: Sequence[Entry]
) -> None:
    """Record entries that waited for their contract, one at a time: one that fails is
    its own fault, so it alone is dead-lettered (with its parked bytes) and forgotten
    (a fixed replay from the dead-letter topic is then accepted as new)."""
    contracts = await store.load_contracts(conn, customer_ids={e.customer_id for e in entries})
    for entry in entries:
        emitted = len(sink.tx.outbox)
        try:
            async with conn.transaction():  # a savepoint: a failure undoes this entry only
                await record_entries(conn, sink, entries=[entry], contracts=contracts)
        except TRANSIENT_ERRORS:
            raise  # the whole batch is retried
        except Exception as exc:
            del sink.tx.outbox[emitted:]
            reason = (
                f"handler failed: time entry {entry.data.entry_id} could not be recorded "
                f"once the contract of {entry.customer_id} arrived: {type(exc).__name__}: {exc}"
            )
            log.warning("waiting time entry dead-lettered: %s", reason)
            await sink.tx.dead_letter_parked([entry.event_id], reason=reason)
            await store.forget_entry(
                conn, customer_id=entry.customer_id, entry_id=entry.data.entry_id
            )
            continue
        await sink.tx.unpark([entry.event_id])


async def record_entries(
    conn: asyncpg.Connection,
    sink: Sink,
    *,
    entries: Sequence[Entry],
    contracts: dict[str, ContractState],
) -> None:
    customers = {e.customer_id for e in entries}
    orders = await store.load_change_orders(conn, customer_ids=customers)
    closed = await store.last_closed_periods(conn, customer_ids=customers)
    minutes = await store.ticket_minutes(
        conn, keys=((e.customer_id, e.data.ticket_id) for e in entries)
    )
    changed: dict[tuple[str, str], int] = {}
    rows: list[LineRow] = []
    saved = 0
    budgets = service.Budgets()

    async def flush() -> None:  # a release re-reads the entry's lines from Postgres
        nonlocal saved
        await store.save_line_items(conn, rows=rows[saved:])
        saved = len(rows)

    for entry in entries:
        key = (entry.customer_id, entry.data.ticket_id)
        before = minutes.get(key, 0)
        contract = contracts[entry.customer_id]
        known = orders.get(entry.customer_id, ())
        context = WorkContext(contract, known, before)
        decision = classify(entry.data, context)
        minutes[key] = changed[key] = before + entry_minutes(entry.data)
        order = next((co for co in known if decision.change_order_id == co.change_order_id), None)
        budget = await budgets.left(conn, entry.customer_id, order) if order else None
        items, after = build_budgeted_line_items(
            entry.data,
            source_event_id=entry.event_id,
            decision=decision,
            contract=contract,
            last_closed=closed.get(entry.customer_id),
            budget=budget,
        )
        if order is not None and after is not None:
            budgets.spent(entry.customer_id, order, after)
        payloads = [
            sink.line_item(item, customer_id=entry.customer_id, time=entry.event_time, revision=1)
            for item in items
        ]
        rows += service.rows_for(entry, items, 1, payloads)
        # A late approval (read before the work, given after it) releases the entry
        # right away: the same records as when it is read after the entry
        # (apply_change_order), and budgets consumed in arrival order either way.
        late = late_approval(entry.data, known) if decision.rule == "no_change_order" else None
        if late is not None:
            assert late.decided_at is not None
            await flush()
            items = await service.rerecord_entry(
                conn,
                sink,
                entry=entry,
                decision=service.release_decision(late),
                contract=contract,
                last_closed=closed.get(entry.customer_id),
                by=f"change-order:{late.change_order_id}",
                at=late.decided_at,
                budgets=budgets,
                order=late,
            )
            order = late
        held = service.held_minutes(items)
        if held and order is not None:
            metrics.BUDGET_HELD_MINUTES.inc(held)
            if order.overrun_approved(entry.data):  # the overrun was approved already
                await flush()
                await service.release_overrun(
                    conn, sink, customer_id=entry.customer_id, order=order
                )
    await flush()
    await store.set_ticket_minutes(conn, minutes=changed)
    service.count([r.item for r in rows])
