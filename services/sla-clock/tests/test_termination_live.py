"""Through the real broker and Postgres: a `ContractTerminated` cancels the customer's
running clocks with a reason and unschedules their deadlines, so no breach fires after
it even when the scheduler's clock passes the target."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from msp_devstack.testkit import wait_for_async
from msp_events import make_event
from msp_events.topics import CONTRACTS, TICKETS
from msp_events.types.contracts import ContractTerminated
from msp_events.types.sla import SlaBreached, SlaClockCancelled
from msp_events.types.tickets import TicketCreated
from sla_clock.timesource import WallClock

from .conftest import Service, snapshot, ticket_event

pytestmark = pytest.mark.integration


async def test_termination_cancels_running_clocks_and_their_deadlines(
    start_service: Callable[..., Any],
) -> None:
    opened = datetime(2026, 3, 10, 12, tzinfo=UTC)
    ended = opened + timedelta(minutes=5)  # P1 first response is due at +15 min (24x7)
    fake_now = [opened + timedelta(minutes=1)]
    service: Service = await start_service(clock=WallClock(lambda: fake_now[0]))
    history = snapshot()
    start = make_event(history, customer_id="cust-1", source="/crm", time=opened, id="ctr-1")
    await service.send(CONTRACTS.named(service.namespace), [start])
    await wait_for_async(
        lambda: service.db.fetchval("SELECT count(*) = 1 FROM contracts"),
        timeout=60,
        message="contract stored",
    )
    ticket = TicketCreated(
        ticket_id="T-end",
        title="server down",
        priority="P1",
        category="help_desk",
        source="phone",
        opened_at=opened,
    )
    await service.send(TICKETS.named(service.namespace), [ticket_event(ticket, id="T-end-c")])
    await wait_for_async(
        lambda: service.db.fetchval("SELECT count(*) > 0 FROM deadlines"),
        timeout=60,
        message="deadlines scheduled",
    )

    fake_now[0] = opened + timedelta(minutes=10)
    terminated = ContractTerminated(
        contract_id=history.contract_id,
        versions=history.versions,
        effective_at=ended,
        reason="customer left",
    )
    end = make_event(terminated, customer_id="cust-1", source="/crm", time=ended, id="ctr-1-end")
    await service.send(CONTRACTS.named(service.namespace), [end])

    async def cancelled() -> list[SlaClockCancelled] | None:
        found = [
            e.data for e in await service.sla_events() if isinstance(e.data, SlaClockCancelled)
        ]
        return found if len(found) == 2 else None

    found = await wait_for_async(cancelled, timeout=90, message="both clocks cancelled")
    assert sorted(c.metric for c in found) == ["first_response", "resolution"]
    assert all(c.cancelled_at == ended and "contract terminated" in c.reason for c in found)
    assert await service.db.fetchval("SELECT count(*) FROM deadlines") == 0
    states = await service.db.fetch("SELECT DISTINCT state FROM clocks WHERE ticket_id = 'T-end'")
    assert [r["state"] for r in states] == ["cancelled"]
    fake_now[0] = opened + timedelta(minutes=30)  # past the target: nothing is left to fire
    assert not [e for e in await service.sla_events() if isinstance(e.data, SlaBreached)]
