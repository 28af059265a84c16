"""A ticket's history arriving one event at a time, a month late (issue 13, item 9),
through the real broker and Postgres: the SLA topic, read to its end and folded by the
consumers' rule, says what the ticket API and the monthly report say.

The ticket (P2: 30 min to respond, 8 business hours to resolve; London, GMT in
November) was opened Tuesday 2026-11-03 09:00, answered at 09:20, waited on the
customer from 10:00 until Wednesday 10:00 and was resolved on Thursday. Seen one event
at a time in December, the first event alone says both clocks breached (09:30 and
17:00 on Tuesday); the reply then shows first response was met, and the pause moves
the resolution breach to Wednesday 17:00."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from msp_devstack.testkit import read_topic, wait_for_async
from msp_events import Envelope, make_event
from msp_events.topics import CONTRACTS, SLA, TICKETS
from msp_events.types.tickets import (
    TicketCommentAdded,
    TicketCreated,
    TicketResolved,
    TicketStatusChanged,
)
from sla_clock.timesource import WallClock

from .conftest import Service, snapshot, ticket_event

pytestmark = pytest.mark.integration
CUSTOMER = "cust-late"
TICKET = "T-late-history"
DECEMBER = datetime(2026, 12, 1, 12, tzinfo=UTC)  # the service's wall clock: a month on


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)  # London = UTC in November


def history() -> list[Envelope]:
    """The ticket's events in the order the PSA sends them (event-time order)."""
    return [
        ticket_event(
            TicketCreated(
                ticket_id=TICKET,
                title="file server slow",
                priority="P2",
                category="help_desk",
                source="phone",
                opened_at=nov(3, 9),
            ),
            customer=CUSTOMER,
            id="late-created",
        ),
        ticket_event(
            TicketCommentAdded(
                ticket_id=TICKET,
                comment_id="c-1",
                author_kind="agent",
                public=True,
                added_at=nov(3, 9, 20),
            ),
            customer=CUSTOMER,
            id="late-reply",
        ),
        ticket_event(
            TicketStatusChanged(
                ticket_id=TICKET, status="waiting_on_customer", changed_at=nov(3, 10)
            ),
            customer=CUSTOMER,
            id="late-waiting",
        ),
        ticket_event(
            TicketStatusChanged(ticket_id=TICKET, status="in_progress", changed_at=nov(4, 10)),
            customer=CUSTOMER,
            id="late-in-progress",
        ),
        ticket_event(
            TicketResolved(ticket_id=TICKET, resolution_code="fixed", resolved_at=nov(5, 9)),
            customer=CUSTOMER,
            id="late-resolved",
        ),
    ]


def claim(event: dict[str, Any]) -> tuple[str, str | None] | None:
    """The outcome an SLA event states for its clock (None: not an outcome)."""
    data, kind = event["data"], event["type"]
    if kind == "msp.sla.breached.v1":
        return ("breached", data["breached_at"])
    if kind == "msp.sla.met.v1":
        return ("met", data["met_at"])
    if kind == "msp.sla.clock_cancelled.v1":
        return ("cancelled", data["cancelled_at"])
    if kind == "msp.sla.outcome_corrected.v1":
        return (data["outcome"], data.get("outcome_at"))  # absent: pending
    return None


def fold(topic: list[dict[str, Any]]) -> dict[str, tuple[str, datetime | None]]:
    """The consumers' rule (services/sla-clock/README.md), on raw JSON so the test reads
    the wire: in topic order, the latest outcome statement for a clock wins."""
    outcomes: dict[str, tuple[str, datetime | None]] = {}
    for event in topic:
        said = claim(event)
        if said is not None:
            outcomes[event["data"]["clock_id"]] = (said[0], instant(said[1]))
    return outcomes


def standing(topic: list[dict[str, Any]]) -> dict[str, set[tuple[str, datetime | None]]]:
    """Per clock, what its outcome statements that no correction refers to say."""
    corrected = {
        e["data"]["corrects_event_id"] for e in topic if e["type"] == "msp.sla.outcome_corrected.v1"
    }
    said: dict[str, set[tuple[str, datetime | None]]] = {}
    for event in topic:
        outcome = claim(event)
        if outcome is not None and event["id"] not in corrected:
            clock = said.setdefault(event["data"]["clock_id"], set())
            clock.add((outcome[0], instant(outcome[1])))
    return said


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def contract(customer: str) -> Envelope:
    return make_event(
        snapshot(),
        customer_id=customer,
        source="/crm",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        id=f"contract-{customer}",
    )


@pytest.mark.parametrize("scheduler_clock", ["wall", "event_time"])
async def test_late_history_one_event_at_a_time_ends_consistent(
    start_service: Callable[..., Any], scheduler_clock: str
) -> None:
    """`wall`: the service's clock reads December. `event_time`: another customer's
    ticket, opened in December, moved the stream's event time there first."""
    if scheduler_clock == "wall":
        service: Service = await start_service(clock=WallClock(lambda: DECEMBER))
    else:
        service = await start_service(scheduler_clock="event_time")
    await service.send(CONTRACTS.named(service.namespace), [contract(CUSTOMER)])

    async def contract_stored() -> bool:
        return bool(await service.db.fetchval("SELECT count(*) FROM contracts"))

    await wait_for_async(contract_stored, timeout=60, message="contract stored")
    if scheduler_clock == "event_time":
        december = TicketCreated(
            ticket_id="T-december",
            title="new starter",
            priority="P4",
            category="help_desk",
            source="portal",
            opened_at=DECEMBER,
        )
        await service.send(
            TICKETS.named(service.namespace),
            [ticket_event(december, customer="cust-other", id="december-created")],
        )

        async def in_december() -> bool:
            sql = "SELECT max_event_time FROM event_clock"
            return await service.db.fetchval(sql) == DECEMBER

        await wait_for_async(in_december, timeout=60, message="event time in December")

    # One event at a time: each is sent only once the previous one was applied (its
    # transition stored and its outputs queued in the same transaction), so each one is
    # its own batch and its own replay, as when a PSA's history trickles in.
    for event in history():
        await service.send(TICKETS.named(service.namespace), [event])

        async def applied(event_id: str = event.id) -> bool:
            sql = "SELECT count(*) FROM transitions WHERE event_id = $1"
            return bool(await service.db.fetchval(sql, event_id))

        await wait_for_async(applied, timeout=60, message=f"{event.id} applied")

    async def relayed() -> list[dict[str, Any]]:
        assert await service.db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
        topic = SLA.named(service.namespace)
        records = await read_topic(service.kafka, topic)
        outbox = await service.db.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic)
        assert len(records) == outbox, (len(records), outbox)
        return [json.loads(r.value) for r in records]

    on_topic = await wait_for_async(relayed, timeout=60, message="every SLA event on the topic")
    topic = [e for e in on_topic if e["subject"] == TICKET]

    api = (await service.http.get(f"/v1/tickets/{TICKET}/sla")).json()
    clocks = {c["clock_id"]: c for c in api["clocks"]}
    response = clocks[f"clk-{TICKET}-first_response-1"]
    resolution = clocks[f"clk-{TICKET}-resolution-1"]
    # What the whole history says (the API): met at the reply; breached Wednesday 17:00.
    assert (response["outcome"], instant(response["stopped_at"])) == ("met", nov(3, 9, 20))
    assert (resolution["outcome"], instant(resolution["breached_at"])) == ("breached", nov(4, 17))

    # The topic, folded, says the same for every clock ...
    expected = {
        response["clock_id"]: ("met", nov(3, 9, 20)),
        resolution["clock_id"]: ("breached", nov(4, 17)),
    }
    assert fold(topic) == expected
    # ... and no statement left standing contradicts it: a breach that later facts
    # disproved, or placed elsewhere, has been corrected (the item 9 shapes: a
    # first-response breach beside its met; a resolution breach at Tuesday 17:00).
    assert standing(topic) == {clock: {outcome} for clock, outcome in expected.items()}
    assert len({e["id"] for e in topic}) == len(topic)

    # The monthly report counts the same outcomes.
    report = (await service.http.get(f"/v1/customers/{CUSTOMER}/sla-report?month=2026-11")).json()
    assert {c["clock_id"]: (c["outcome"], c["breached_at"]) for c in report["clocks"]} == {
        k: (c["outcome"], c["breached_at"]) for k, c in clocks.items()
    }
    assert [(b["clock_id"], instant(b["breached_at"])) for b in report["breaches"]] == [
        (resolution["clock_id"], nov(4, 17))
    ]
