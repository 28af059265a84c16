"""A ticket that waited for its customer's contract and cannot be clocked when the
contract arrives is dead-lettered alone: the contract applies, the other waiting
tickets get their clocks (real broker and Postgres)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from msp_devstack.testkit import read_topic, wait_for_async
from msp_events import Envelope, decode, encode
from msp_events.topics import CONTRACTS, DEAD_LETTER, TICKETS
from msp_events.types.deadletter import DeadLetterRecorded
from msp_events.types.sla import SlaClockStarted
from msp_events.types.tickets import TicketCreated
from sla_clock.timesource import WallClock

from .conftest import Service, ticket_event
from .test_scenarios import contract_event

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
# Inside the contract's window, but its SLA deadline is not (2100-01-01 or later).
EDGE = datetime(2099, 12, 31, 23, tzinfo=UTC)


def created(ticket: str, opened_at: datetime, customer: str) -> Envelope:
    data = TicketCreated(
        ticket_id=ticket,
        title="printer",
        priority="P3",
        category="help_desk",
        source="phone",
        opened_at=opened_at,
    )
    return ticket_event(data, customer=customer, at=NOW, id=f"{ticket}-created")


async def started_tickets(service: Service) -> set[str]:
    return {
        e.data.ticket_id for e in await service.sla_events() if isinstance(e.data, SlaClockStarted)
    }


async def test_a_waiting_ticket_that_fails_is_dead_lettered_and_the_contract_applies(
    start_service: Callable[..., Any],
) -> None:
    service: Service = await start_service(clock=WallClock(lambda: NOW))
    tickets, contracts = TICKETS.named(service.namespace), CONTRACTS.named(service.namespace)
    bad = created("T-bad", EDGE, "cust-1")
    await service.send(tickets, [created("T-good", NOW, "cust-1"), bad])

    async def parked() -> bool:
        return await service.db.fetchval("SELECT count(*) FROM parked_records") == 2

    await wait_for_async(parked, timeout=60, message="both waiting tickets parked")
    await service.send(contracts, [contract_event("cust-1"), contract_event("cust-2")])
    await service.send(
        tickets, [created("T-after", NOW, "cust-1"), created("T-other", NOW, "cust-2")]
    )

    async def clocked() -> bool:
        return {"T-good", "T-after", "T-other"} <= await started_tickets(service)

    await wait_for_async(clocked, timeout=60, message="the other tickets clocked")
    stored = await service.db.fetch("SELECT customer_id FROM contracts ORDER BY customer_id")
    assert [r["customer_id"] for r in stored] == ["cust-1", "cust-2"]
    assert "T-bad" not in await started_tickets(service)
    records = await read_topic(service.kafka, DEAD_LETTER.named(service.namespace))
    letters = [decode(r.value).data for r in records]
    assert len(letters) == 1, [getattr(d, "reason", d) for d in letters]
    letter = letters[0]
    assert isinstance(letter, DeadLetterRecorded)
    assert base64.b64decode(letter.original_value_b64) == encode(bad).value
    assert letter.original_topic == tickets
    assert "T-bad" in letter.reason and "cust-1" in letter.reason
    assert letter.reason.startswith("handler failed")
    reason = await service.db.fetchval(
        "SELECT no_clock_reason FROM tickets WHERE ticket_id = 'T-bad'"
    )
    assert reason.startswith("dead-lettered")
    assert await service.db.fetchval("SELECT count(*) FROM parked_records") == 0
