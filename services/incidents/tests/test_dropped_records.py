"""Records Faust drops before the agent sees them are triaged after all (agents.py,
offsets.py). Faust's stream silently skips and acks every record it dequeues while its
flow control is suspended, as during a rebalance (faust/streams.py, the "Skipping
message" branch). Here flow control reports suspended while the first alerts go by, so
the real Faust code drops them; the next alerts then arrive behind a gap. Before the fix
the agent committed past the gap and the first alerts were never read again (the lost
alerts after a crash in the end-to-end test)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from conftest import Service
from factory import contract, firing, t

from msp_devstack.testkit import wait_for_async
from msp_events.topics import MONITORING

pytestmark = pytest.mark.integration

CUSTOMER = "dropped-co"


def alerts(first: int, n: int) -> list[Any]:
    # one site each: every alert opens an incident of its own
    return [
        firing(CUSTOMER, f"fp-{i}", t(i), device=f"d-{i}", site=f"s-{i}")
        for i in range(first, first + n)
    ]


async def test_records_dropped_by_faust_are_triaged_and_never_committed_past(
    service: Service,
) -> None:
    assert service.runtime.faust is not None
    app, worker = service.runtime.faust.app, service.runtime.faust.worker
    await service.contract(contract(CUSTOMER))
    await wait_for_async(lambda: worker.processed >= 1, timeout=90, message="contract triaged")

    flow = app.flow_control
    real_is_active = flow.is_active
    dropping = {"on": True, "calls": 0}

    def suspended_while_dropping() -> bool:
        if dropping["on"]:
            dropping["calls"] += 1
            return False
        return real_is_active()

    first, second = alerts(0, 5), alerts(5, 5)
    flow.is_active = suspended_while_dropping  # type: ignore[method-assign]
    try:
        await service.send(first)
        # streams.py asks twice per skipped record (the check and its debug log)
        await wait_for_async(
            lambda: dropping["calls"] >= 2 * len(first),
            timeout=90,
            message="Faust to skip the first alerts",
        )
    finally:
        dropping["on"] = False
        flow.is_active = real_is_active  # type: ignore[method-assign]
    await service.send(second)

    counts: dict[str, int] = {}

    async def all_attached() -> bool:
        counts["attached"] = int(await service.db.fetchval("SELECT count(*) FROM incident_alerts"))
        return counts["attached"] == len(first) + len(second)

    await wait_for_async(
        all_attached, timeout=90, message=lambda: f"every alert in an incident: {counts}"
    )
    # and the group's committed offsets reach the end of the topic: nothing is pending
    topic = MONITORING.named(service.ns)
    admin = AIOKafkaAdminClient(bootstrap_servers=service.kafka)
    await admin.start()
    try:

        async def committed_to_end() -> bool:
            offsets = await admin.list_consumer_group_offsets(app.conf.id)
            mine = {tp: m.offset for tp, m in offsets.items() if tp.topic == topic}
            counts["committed"] = sum(mine.values())
            return counts["committed"] == len(first) + len(second)

        await wait_for_async(
            committed_to_end, timeout=60, message=lambda: f"offsets committed: {counts}"
        )
    finally:
        await admin.close()
