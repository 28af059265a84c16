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
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import faust
from faust.types import TP

from incidents.sink import RawRecord
from incidents.worker import TriageWorker
from msp_plumbing import metrics as plumbing_metrics

LAG_REFRESH_S = 5.0


def _record(e: Any) -> RawRecord:
    m = e.message
    return RawRecord(m.topic, m.partition, m.offset, m.timestamp or 0.0, m.key, m.value)


def export_lag(app: faust.App, committed: dict[TP, int], group: str) -> None:
    """`msp_consumer_lag_records` for the agent's partitions (not the tables'
    changelogs): the high watermark the last fetch reported minus the offset this agent
    last committed. Partitions without a commit in this process are left out (Faust's
    own `_committed_offset` does not follow the agent's manual commits)."""
    consumer = app.consumer
    try:
        assigned = consumer.assignment()
    except Exception:  # consumer (re)starting: next round; never let a metric stop triage
        return
    for tp in assigned:
        nxt = committed.get(tp)
        if nxt is None:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # not fetched yet / consumer restarting: next round
            continue
        if high is not None:
            plumbing_metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(
                max(0, high - nxt)
            )


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

        async def flush() -> None:
            batch = pending[:]
            del pending[:]
            if not batch:
                return
            await worker.process([_record(e) for e in batch])
            for e in batch:
                e.ack()
            # Commit exactly what is now durable (outputs in Postgres, state in the
            # changelog). Faust's own periodic commit is switched off (faust_app.py):
            # in our crash test it committed offsets of events not yet processed.
            nxt: dict[TP, int] = {}
            for e in batch:
                tp = TP(e.message.topic, e.message.partition)
                nxt[tp] = max(nxt.get(tp, 0), e.message.offset + 1)
            if commit:
                await app.consumer._commit(nxt)  # type: ignore[attr-defined]
                committed.update(nxt)
                export_lag(app, committed, worker.group)

        committed: dict[TP, int] = {}  # what this agent committed: the base of its lag
        lag_due = 0.0

        async def idle_flusher() -> None:
            nonlocal lag_due
            while True:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), within)
                    continue  # more is coming: let the batch grow
                await flush()
                if committed and time.monotonic() >= lag_due:
                    export_lag(app, committed, worker.group)  # idle: producers may move on
                    lag_due = time.monotonic() + LAG_REFRESH_S

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
