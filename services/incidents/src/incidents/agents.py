"""The triage agent: one stream over the monitoring and contracts topics (both keyed by
customer and co-partitioned), gathered into batches and handed to the TriageWorker.

Offsets are committed by this agent, and only once a batch is durable: triaged, its
outputs committed to Postgres, its state acknowledged by Kafka. In our crash test
(tests/test_restart.py) Faust's own bookkeeping was not safe to rely on: with
`take_events` (acks by Faust), with `noack_take` and with manual acks plus Faust's
periodic commit, a restarted worker either skipped events whose offsets had been
committed before they were processed, or stalled. So the stream is `noack()`, Faust's
periodic commit is off (faust_app.py), and we batch ourselves: a batch is handed over
when it is full, or when no event arrived for `within` seconds.

Faust's stream also drops records silently around a rebalance (offsets.py), so a batch
is not a contiguous run of offsets: `PartitionOffsets` triages and commits only the
contiguous run from the committed offset and seeks a partition back over a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import faust
from faust.types import TP

from incidents.offsets import BatchPlan, plan_batch
from incidents.sink import RawRecord
from incidents.worker import TriageWorker

log = logging.getLogger(__name__)

RESEEK_S = 2.0
"""A partition is sought back to the same offset again only after this long: records
fetched before the seek may still arrive behind the gap meanwhile."""
STALL_S = 5.0
"""Idle this long with a partition's high watermark ahead of our next offset: the
records at its tail were dropped, nothing later will show the gap, so seek back."""


def _record(e: Any) -> RawRecord:
    m = e.message
    return RawRecord(m.topic, m.partition, m.offset, m.timestamp or 0.0, m.key, m.value)


class PartitionOffsets:
    """The next offset to triage per assigned input partition, from the group's
    committed offset (we are its only committer), reset on every rebalance."""

    def __init__(self, app: faust.App, topics: Iterable[str]) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.expected: dict[TP, int] = {}
        self.generation: int | None = None
        self.sought: dict[TP, tuple[int, float]] = {}

    def _assigned(self) -> set[TP]:
        return {tp for tp in self.app.consumer.assignment() if tp.topic in self.topics}

    async def _known(self, tps: set[TP]) -> dict[TP, int]:
        """`expected` for `tps`, fetching the committed offsets it does not hold yet."""
        while True:
            generation = self.app.consumer_generation_id
            if generation != self.generation:  # a rebalance: Faust sought to committed
                self.expected.clear()
                self.sought.clear()
                self.generation = generation
            missing = tps - set(self.expected)
            if missing:
                fetched = await self._committed(missing)
                if self.app.consumer_generation_id != generation:
                    continue
                self.expected.update(fetched)
            return {tp: self.expected[tp] for tp in tps}

    async def _committed(self, tps: set[TP]) -> dict[TP, int]:
        thread = self.app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._ensure_consumer()

        async def on_consumer_thread() -> dict[TP, int]:
            committed = {tp: await consumer.committed(tp) for tp in tps}
            # no commit yet: the consumer starts at the log start (auto reset earliest)
            fresh = [tp for tp, offset in committed.items() if offset is None]
            starts = await consumer.beginning_offsets(fresh) if fresh else {}
            return {
                tp: offset if offset is not None else starts[tp] for tp, offset in committed.items()
            }

        fetched: dict[Any, int] = await thread.call_thread(on_consumer_thread)
        return {TP(tp.topic, tp.partition): offset for tp, offset in fetched.items()}

    async def plan(self, batch: Sequence[Any]) -> BatchPlan[TP]:
        positions = [(TP(e.message.topic, e.message.partition), e.message.offset) for e in batch]
        expected = await self._known({tp for tp, _ in positions} & self._assigned())
        return plan_batch(positions=positions, expected=expected)

    async def commit(self, plan: BatchPlan[TP]) -> None:
        if plan.commit:
            ok = await self.app.consumer._commit(plan.commit)  # type: ignore[attr-defined]
            if ok:
                self.expected.update(plan.commit)
            else:  # rebalanced meanwhile: start again from what Kafka holds
                self.expected.clear()
        for tp, offset in plan.rewind.items():
            await self.rewind(tp, offset)

    async def rewind(self, tp: TP, offset: int) -> None:
        now = time.monotonic()
        last = self.sought.get(tp)
        if last is not None and last[0] == offset and now - last[1] < RESEEK_S:
            return
        self.sought[tp] = (offset, now)
        # loud the first time; a retry of the same seek (records fetched before it
        # raced it) is routine
        level = logging.INFO if last is not None and last[0] == offset else logging.WARNING
        log.log(
            level,
            "records of %s[%d] from offset %d did not reach triage: seeking back",
            tp.topic,
            tp.partition,
            offset,
        )
        try:
            await self.app.consumer.seek_wait({tp: offset})
        except Exception as exc:  # revoked meanwhile: the next owner starts at the commit
            log.info("seek of %s[%d] skipped: %r", tp.topic, tp.partition, exc)

    async def check_tails(self) -> None:
        """When idle: any partition whose end is ahead of our next offset lost its tail."""
        assigned = self._assigned()
        expected = await self._known(assigned)
        for tp, nxt in expected.items():
            end = self.app.consumer.highwater(tp)
            if end is not None and end > nxt:
                await self.rewind(tp, nxt)


def triage_agent(
    app: faust.App,
    topic: Any,
    worker: TriageWorker,
    *,
    batch_max: int,
    within: float,
    commit: bool = True,
) -> Any:
    @app.agent(topic, name="triage")
    async def triage(stream: Any) -> None:
        pending: list[Any] = []
        arrived = asyncio.Event()
        # Without a broker (Faust's test_context) there is nothing to commit or seek.
        offsets = PartitionOffsets(app, topic.topics) if commit else None

        flushing = asyncio.Lock()  # one batch at a time: plans build on the last commit

        async def flush() -> None:
            async with flushing:
                await flush_pending()

        async def flush_pending() -> None:
            batch = pending[:]
            del pending[:]
            if not batch:
                return
            plan = await offsets.plan(batch) if offsets is not None else None
            taken = [batch[i] for i in plan.take] if plan is not None else batch
            if taken:
                await worker.process([_record(e) for e in taken])
            for e in batch:
                e.ack()
            # Commit exactly what is now durable (outputs in Postgres, state in the
            # changelog) and contiguous. Faust's own periodic commit is switched off
            # (faust_app.py): in our crash test it committed offsets of events not yet
            # processed.
            if offsets is not None and plan is not None:
                await offsets.commit(plan)

        async def idle_flusher() -> None:
            idle_since = time.monotonic()
            while True:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), within)
                    idle_since = time.monotonic()
                    continue  # more is coming: let the batch grow
                await flush()
                if offsets is not None and time.monotonic() - idle_since > STALL_S:
                    idle_since = time.monotonic()
                    try:
                        await offsets.check_tails()
                    except Exception as exc:  # a rebalance or the broker: next round
                        log.info("tail check skipped: %r", exc)

        flusher = asyncio.create_task(idle_flusher())
        try:
            async for event in stream.noack().events():
                pending.append(event)
                arrived.set()
                if len(pending) >= batch_max:
                    await flush()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    return triage
