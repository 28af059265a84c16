"""The Kafka handler: tickets, contracts and incidents in, SLA events out (outbox).

One batch = one transaction (msp_plumbing.TransactionalConsumer): contracts and
incidents are stored, ticket events appended to their tickets' logs, the event-time
clock advanced, then every touched ticket is replayed once at the batch's "now"."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from msp_events import Envelope
from msp_events.tracing import TraceContext, trace_of
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from msp_plumbing.consumer import BatchHandler, Tx
from sla_clock.contracts import (
    ContractCache,
    TicketKey,
    store_contract,
    tickets_waiting_for_contract,
    tickets_with_live_clocks,
)
from sla_clock.monthly import schedule_reports
from sla_clock.service import recompute, store_incidents, store_transitions, transition_of
from sla_clock.timesource import Now, advance_event_time
from sla_clock.traces import store_ticket_traces
from sla_clock.transitions import Transition
from sla_clock.waiting import blame, park_uncontracted

log = logging.getLogger(__name__)


def make_batch_handler(*, clock: Now, contracts: ContractCache) -> BatchHandler:
    async def handle(tx: Tx, events: Sequence[Envelope]) -> None:
        entries: list[tuple[str, str, Transition]] = []
        touched: set[TicketKey] = set()
        causes: dict[TicketKey, list[str]] = defaultdict(list)  # named by corrections
        new_contracts: list[str] = []
        incidents: list[Envelope] = []
        latest = None
        contract_of: dict[str, str] = {}  # customer -> this batch's contract event id
        contract_time: dict[str, datetime] = {}  # customer -> its contract event's time
        for event in events:
            data = event.data
            if isinstance(data, ContractSnapshot | ContractTerminated):
                await store_contract(tx.conn, customer_id=event.customer_id, contract=data)
                new_contracts.append(event.customer_id)
                contract_of[event.customer_id] = event.id
                contract_time[event.customer_id] = event.time
                continue
            if isinstance(data, IncidentOpened | IncidentResolved):
                incidents.append(event)
            else:
                transition = transition_of(event)
                if transition is not None:
                    ticket_id = str(getattr(data, "ticket_id", ""))
                    entries.append((event.customer_id, ticket_id, transition))
                    touched.add((event.customer_id, ticket_id))
                    causes[(event.customer_id, ticket_id)].append(event.id)
            latest = event.time if latest is None else max(latest, event.time)
        await store_incidents(tx.conn, events=incidents)
        await store_transitions(tx.conn, entries=entries)
        await park_uncontracted(tx, entries=entries)
        # for the deadlines the scheduler fires later (traces.py)
        last_events = {k: tx.inputs[ids[-1]] for k, ids in causes.items() if ids[-1] in tx.inputs}
        await store_ticket_traces(tx.conn, traced=last_events)
        now = await clock.now(tx.conn)
        if clock.kind == "event_time" and latest is not None:
            now = max(now, latest)  # this batch's events count, as advanced below
        if new_contracts:
            # the customer's monthly reports start with the month its contract was learnt
            # (`monthly.py`): in event time, the contract event's own (replays agree)
            live = clock.kind != "event_time"
            learnt = {c: max(now, at) if live else at for c, at in contract_time.items()}
            await schedule_reports(tx.conn, learnt_at=learnt, contracts=contracts)
            # Tickets that arrived before their customer's contract get their clocks now;
            # one that cannot is dead-lettered alone, never the contract (`waiting`).
            waiting = await tickets_waiting_for_contract(tx.conn, customer_ids=new_contracts)
            failed = await blame(tx, keys=waiting, now=now, contracts=contracts)
            touched.update(k for k in waiting if k not in failed)
            touched.difference_update(failed)
            # a termination cancels the customer's live clocks (clock.py: "Termination")
            touched.update(await tickets_with_live_clocks(tx.conn, customer_ids=new_contracts))
        # an SLA event continues the trace of its ticket's latest event in this batch
        # (or of the contract that started its clock): built in it (`built_envelope`)
        parents = traces_of(tx.inputs, touched, causes=causes, contract_of=contract_of)
        replayed = await recompute(
            tx.conn, keys=touched, now=now, contracts=contracts, causes=causes, parents=parents
        )
        for out in replayed:
            tx.emit(out)
        if latest is not None:
            # Last: the single event_clock row is locked until commit, and several
            # consumers (in one process or several) must not queue on it for a whole batch.
            await advance_event_time(tx.conn, latest)

    return handle


def traces_of(
    inputs: Mapping[str, Envelope],
    keys: Iterable[TicketKey],
    *,
    causes: Mapping[TicketKey, Sequence[str]],
    contract_of: Mapping[str, str],
) -> dict[TicketKey, TraceContext]:
    """The trace each ticket's SLA events continue: its latest event of the batch, or
    else its customer's contract event of the batch (those that carry a trace)."""
    parents: dict[TicketKey, TraceContext] = {}
    for key in keys:
        ticket_causes = causes.get(key)
        cause_id = ticket_causes[-1] if ticket_causes else contract_of.get(key[0])
        cause = inputs.get(cause_id) if cause_id is not None else None
        parent = trace_of(cause) if cause is not None else None
        if parent is not None:
            parents[key] = parent
    return parents
