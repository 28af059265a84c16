"""Retention on the real broker and Postgres: the supervised pruner deletes sent and
dead deliveries (and their attempts) older than `delivery_retention_days`, and keeps
younger ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from notify_harness import WebhookSink, event, msp_directory

from msp_devstack.testkit import wait_for_async
from msp_events.topics import SLA
from msp_events.types.contracts import Contact
from msp_events.types.sla import SlaBreached

pytestmark = pytest.mark.integration
StartNotify = Callable[..., Any]

DUE = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)


def breach() -> SlaBreached:
    return SlaBreached(
        clock_id="clk-T-1",
        ticket_id="T-1",
        metric="resolution",
        cycle=1,
        priority="P2",
        contract_id="ctr-cust-1",
        contract_version=1,
        due_at=DUE,
        breached_at=DUE,
        escalation_level=3,
        roles_to_inform=["service_desk_lead"],
    )


async def test_sent_and_dead_deliveries_past_retention_are_pruned_with_their_attempts(
    notify_service: StartNotify, webhook_sink: WebhookSink
) -> None:
    msp = msp_directory(
        service_desk_lead=[
            Contact(name="Sam", email="sam@msp.example", webhook_url=webhook_sink.url("/ok/sam")),
            Contact(name="Dee", email="dee@msp.example", webhook_url=webhook_sink.url("/down/dee")),
        ]
    )
    service = await notify_service(
        notify_directory=msp,
        delivery_max_attempts=2,
        delivery_retention_days=30,
        retention_interval_s=0.2,
    )
    await service.send(SLA.name, [event(breach(), id="b1", at=DUE, subject="T-1")])

    async def settled() -> dict[str, str]:
        found = await service.deliveries()
        assert len(found) == 4 and all(d["status"] in ("sent", "dead") for d in found), found
        return {d["address"]: d["status"] for d in found}

    statuses = await wait_for_async(settled, timeout=60, message="4 deliveries settled")
    assert statuses[webhook_sink.url("/down/dee")] == "dead"
    # age them as time would: Sam's email and Dee's dead webhook ended 31 days ago,
    # Dee's email 29 days ago (inside retention)
    db = service.db
    await db.execute(
        "UPDATE deliveries SET sent_at = now() - interval '31 days' WHERE address = $1",
        "sam@msp.example",
    )
    await db.execute(
        "UPDATE deliveries SET next_attempt_at = now() - interval '31 days' WHERE address = $1",
        webhook_sink.url("/down/dee"),
    )
    await db.execute(
        "UPDATE deliveries SET sent_at = now() - interval '29 days' WHERE address = $1",
        "dee@msp.example",
    )

    async def pruned() -> set[str]:
        left = {r["address"] for r in await db.fetch("SELECT address FROM deliveries")}
        assert len(left) == 2, left
        return left

    left = await wait_for_async(pruned, timeout=30, message="the aged deliveries pruned")
    assert left == {"dee@msp.example", webhook_sink.url("/ok/sam")}
    # the pruned ones' attempts went with them (Dee's dead webhook had two)
    kept = await db.fetch(
        "SELECT d.address FROM delivery_attempts a JOIN deliveries d USING (delivery_id)"
    )
    assert sorted(r["address"] for r in kept) == sorted(left)
    assert await db.fetchval("SELECT count(*) FROM delivery_attempts") == 2
