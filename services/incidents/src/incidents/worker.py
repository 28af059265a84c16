"""The triage worker behind the Faust agent and timer: decodes a batch of records,
applies the triage rules per customer, writes the outputs (one Postgres transaction)
and then stores the changed customer states in the Faust tables.

Order matters for at-least-once: outputs are committed before the table changelog is
written and before Faust acks the batch. A crash in between replays the batch against
the older state, which re-derives the same ids (dropped by the outbox); a changelog
already ahead of the offsets makes the replayed events no-ops (per-alert last-event
check in `dedup`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import datetime
from typing import Any

from incidents import metrics, triage
from incidents.config import TriageConfig
from incidents.outputs import Effects
from incidents.sink import RawRecord, Sink, dead_letter
from incidents.state import CustomerState
from msp_events import Envelope, EventValidationError, decode_record, parse_event
from msp_events.serde import to_json_obj
from msp_events.topics import DEAD_LETTER, topic_for
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.incidents import IncidentOpened
from msp_events.types.tickets import TicketCreated
from msp_plumbing import eventlog
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import OutboxRecord, outbox_record

log = logging.getLogger(__name__)

Contract = ContractSnapshot | ContractTerminated
Table = MutableMapping[bytes, Any]


def log_events(effects: Sequence[Effects], *, group: str) -> None:
    """One line per consumed event once its outputs are committed (`eventlog`)."""
    if eventlog.enabled():
        for fx in effects:
            if fx.cause is not None:
                eventlog.handled(fx.cause, outcome=fx.outcome(), group=group)


class TriageWorker:
    def __init__(
        self,
        *,
        states: Table,
        contracts: Table,
        sink: Sink,
        cfg: TriageConfig,
        namespace: str,
        group: str,
        durable: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.states = states
        self.contracts = contracts
        self.sink = sink
        self.cfg = cfg
        self.namespace = namespace
        self.group = group
        self.durable = durable
        self.lock = asyncio.Lock()
        # parsed copies of table values, valid while the table holds the same object
        self._states: dict[bytes, tuple[object, CustomerState]] = {}
        self._contracts: dict[bytes, tuple[object, Contract]] = {}
        self.processed = 0
        """Records taken from the topics so far (the benchmark reads this)."""
        self.alerts_in_incidents = 0
        self.incidents_opened = 0

    # -- table access ----------------------------------------------------------------

    def state(self, customer: str) -> CustomerState:
        key = customer.encode()
        raw = self.states.get(key)
        cached = self._states.get(key)
        if cached is not None and raw is not None and cached[0] is raw:
            return cached[1]
        state = CustomerState.model_validate(raw) if raw else CustomerState(customer_id=customer)
        self._states[key] = (raw, state)
        return state

    def contract(self, customer: str) -> Contract | None:
        key = customer.encode()
        raw = self.contracts.get(key)
        if raw is None:
            return None
        cached = self._contracts.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        event = parse_event(raw)
        assert isinstance(event.data, ContractSnapshot | ContractTerminated)
        self._contracts[key] = (raw, event.data)
        return event.data

    def _store(self, state: CustomerState) -> None:
        key = state.customer_id.encode()
        raw = state.model_dump(mode="json", exclude_defaults=True)
        self.states[key] = raw
        self._states[key] = (self.states.get(key), state)

    # -- processing ------------------------------------------------------------------

    async def process(self, records: Sequence[RawRecord]) -> None:
        started = time.perf_counter()
        async with self.lock:
            effects: list[Effects] = []
            dead: list[OutboxRecord] = []
            touched: dict[str, CustomerState] = {}
            for rec in records:
                try:
                    event = decode_record(rec.key, rec.value)
                except EventValidationError as exc:
                    pointer = exc.errors[0].pointer if exc.errors else None
                    dead.append(
                        dead_letter(
                            rec,
                            f"invalid event: {exc}",
                            pointer,
                            topic=DEAD_LETTER.named(self.namespace),
                            group=self.group,
                        )
                    )
                    continue
                effects.append(self._apply(event, touched).caused_by(event))
            await self._write(effects, dead)
            crash_point("incidents.after_sink")
            for state in touched.values():
                self._store(state)
            if self.durable is not None:
                await self.durable()  # the changelog before the ack, see tables.py
            self.processed += len(records)
        log.info(
            "triaged a batch",
            extra={
                "records": len(records),
                "offsets": sorted({f"{r.topic}[{r.partition}]@{r.offset}" for r in records})[:3],
                "outputs": sum(len(fx.events) for fx in effects),
            },
        )
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        log_events(effects, group=self.group)

    def _apply(self, event: Envelope, touched: dict[str, CustomerState]) -> Effects:
        customer = event.customer_id
        state = touched.get(customer) or self.state(customer)
        touched[customer] = state
        if isinstance(event.data, ContractSnapshot | ContractTerminated):
            self.contracts[customer.encode()] = to_json_obj(event)
            return triage.apply_contract(state, event.data, self.cfg)
        return triage.apply_event(state, self.contract(customer), event, self.cfg)

    async def tick(self, now: datetime) -> None:
        """The wall-clock fallback: let due timers fire for every customer held here."""
        async with self.lock:
            effects: list[Effects] = []
            changed: list[CustomerState] = []
            for key in list(self.states.keys()):
                state = self.state(key.decode())
                if state.clock is not None and state.clock >= now:
                    continue
                fx = triage.advance(state, self.contract(state.customer_id), now, self.cfg)
                effects.append(fx)
                changed.append(state)
            await self._write(effects, [])
            for state in changed:
                self._store(state)
            if self.durable is not None:
                await self.durable()

    async def _write(self, effects: list[Effects], dead: list[OutboxRecord]) -> None:
        outbox = list(dead)
        rows = []
        for fx in effects:
            outbox.extend(
                outbox_record(e, topic=topic_for(e.type).named(self.namespace)) for e in fx.events
            )
            rows.extend(fx.log)
        await self.sink.write(outbox, rows)
        self._count(effects)

    def _count(self, effects: list[Effects]) -> None:
        for fx in effects:
            for row in fx.log:
                metrics.ALERTS.labels(row.outcome).inc()
                if row.outcome in ("opened", "correlated"):
                    self.alerts_in_incidents += 1
            for e in fx.events:
                if isinstance(e.data, IncidentOpened):
                    metrics.OPENED.labels(e.data.priority).inc()
                    self.incidents_opened += 1
                elif isinstance(e.data, TicketCreated):
                    metrics.PROACTIVE_TICKETS.inc()
            if fx.flapping:
                metrics.FLAPPING.inc(fx.flapping)
        if self.incidents_opened:
            metrics.NOISE_RATIO.set(self.alerts_in_incidents / self.incidents_opened)
