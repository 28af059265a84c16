"""Consumer lag of the Faust triage agent, for `msp_consumer_lag_records` (the metric
the plumbing's consumers export). The agent commits to Kafka exactly what is durable
(agents.py), so lag = end offset - the group's committed offset, read every few
seconds out of band by an admin client: two broker requests per round, none per
record, and nothing inside the agent that could ever stall triage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from msp_plumbing import metrics

log = logging.getLogger(__name__)


async def export_group_lag(
    *, bootstrap_servers: str, group: str, topics: Sequence[str], interval_s: float = 5.0
) -> None:
    """Export `group`'s lag on `topics` every `interval_s` until cancelled. Broker
    errors skip a round (logged), they never end the loop."""
    admin: AIOKafkaAdminClient | None = None
    offsets: AIOKafkaConsumer | None = None  # no group: only asks for end offsets
    try:
        while True:
            try:
                if admin is None or offsets is None:
                    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
                    offsets = AIOKafkaConsumer(
                        bootstrap_servers=bootstrap_servers, enable_auto_commit=False
                    )
                    await admin.start()
                    await offsets.start()
                await export_once(admin, offsets, group=group, topics=set(topics))
            except Exception as exc:  # the metric waits for the next round, triage goes on
                log.info("triage lag not exported this round: %r", exc)
            await asyncio.sleep(interval_s)  # the refresh period of the gauge
    finally:
        if offsets is not None:
            await offsets.stop()
        if admin is not None:
            await admin.close()


async def export_once(
    admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer, *, group: str, topics: set[str]
) -> None:
    committed = await admin.list_consumer_group_offsets(group)
    mine: dict[TopicPartition, int] = {
        tp: meta.offset for tp, meta in committed.items() if tp.topic in topics and meta.offset >= 0
    }
    if not mine:
        return
    ends = await offsets.end_offsets(list(mine))
    for tp, nxt in mine.items():
        metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, ends[tp] - nxt))
