"""The triage agent: one stream over the monitoring and contracts topics (both keyed by
customer and co-partitioned), taken in batches and handed to the TriageWorker.

Acks are manual: an event is acked (its offset may be committed) only after its batch
was triaged, its outputs committed to Postgres and its state acknowledged by Kafka.
With Faust's acking `take_events` we saw a crash lose events: offsets of buffered,
not yet processed events were committed (at-least-once broken), so the stream is
`noack()` and `noack_take` hands us the events to ack ourselves."""

from __future__ import annotations

from typing import Any

import faust

from incidents.sink import RawRecord
from incidents.worker import TriageWorker


def triage_agent(
    app: faust.App, topic: Any, worker: TriageWorker, *, batch_max: int, within: float
) -> Any:
    @app.agent(topic, name="triage")
    async def triage(stream: Any) -> None:
        async for events in stream.noack().noack_take(batch_max, within=within):
            await worker.process(
                [
                    RawRecord(
                        topic=e.message.topic,
                        partition=e.message.partition,
                        offset=e.message.offset,
                        timestamp=e.message.timestamp or 0.0,
                        key=e.message.key,
                        value=e.message.value,
                    )
                    for e in events
                ]
            )
            for e in events:
                e.ack()

    return triage
