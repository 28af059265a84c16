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
from typing import Any

import faust
from faust.types import TP

from incidents.sink import RawRecord
from incidents.worker import TriageWorker


def _record(e: Any) -> RawRecord:
    m = e.message
    return RawRecord(m.topic, m.partition, m.offset, m.timestamp or 0.0, m.key, m.value)


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

        async def idle_flusher() -> None:
            while True:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), within)
                    continue  # more is coming: let the batch grow
                await flush()

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
