"""Scenario tests through the real broker and Postgres: the service consumes tickets
and contracts from Kafka, keeps clocks in Postgres, fires deadlines from its scheduler
and publishes SLA events through the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from msp_devstack.testkit import wait_for_async
from msp_events import Envelope, make_event
from msp_events.topics import CONTRACTS, INCIDENTS, TICKETS
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from msp_events.types.sla import SlaBreached, SlaClockStarted
from msp_events.types.tickets import (
    TicketCommentAdded,
    TicketCreated,
    TicketPriorityChanged,
    TicketReopened,
    TicketResolved,
    TicketStatusChanged,
)
from sla_clock.queue import dispatch_key
from sla_clock.timesource import WallClock

from .conftest import Service, london, schema_of, snapshot, ticket_event

pytestmark = pytest.mark.integration
CUSTOMER = "cust-1"


def contract_event(customer: str = CUSTOMER) -> Envelope:
    return make_event(
        snapshot(),
        customer_id=customer,
        source="/crm",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        id=f"contract-{customer}",
    )


def created(ticket: str, at: datetime, priority: str = "P3", **kw: Any) -> Envelope:
    data = TicketCreated(
        ticket_id=ticket,
        title="printer",
        priority=priority,  # type: ignore[arg-type]
        category="help_desk",
        source="phone",
        opened_at=at,
        **kw,
    )
    return ticket_event(data, id=f"{ticket}-created")


def status(ticket: str, at: datetime, value: str, n: int) -> Envelope:
    data = TicketStatusChanged(ticket_id=ticket, status=value, changed_at=at)  # type: ignore[arg-type]
    return ticket_event(data, id=f"{ticket}-status-{n}")


def reply(ticket: str, at: datetime) -> Envelope:
    data = TicketCommentAdded(
        ticket_id=ticket, comment_id=f"{ticket}-c", author_kind="agent", public=True, added_at=at
    )
    return ticket_event(data, id=f"{ticket}-reply")


def contract_stored(service: Service) -> Callable[[], Any]:
    async def stored() -> bool:
        return bool(await service.db.fetchval("SELECT count(*) FROM contracts"))

    return stored


async def breaches(service: Service) -> dict[tuple[str, str, int], SlaBreached]:
    found = {}
    for e in await service.sla_events():
        if isinstance(e.data, SlaBreached):
            found[(e.data.ticket_id, e.data.metric, e.data.cycle)] = e.data
    return found


async def test_scenarios_through_kafka_and_postgres(
    start_service: Callable[..., Any],
) -> None:
    service: Service = await start_service(scheduler_clock="event_time")
    tickets = TICKETS.named(service.namespace)
    await service.send(CONTRACTS.named(service.namespace), [contract_event()])
    await wait_for_async(contract_stored(service), timeout=60, message="contract stored")
    outage = [
        make_event(
            IncidentOpened(
                incident_id="inc-1",
                title="server down",
                priority="P1",
                impact="high",
                urgency="high",
                scope="customer",
                alert_fingerprints=["fp-1"],
                check_kind="server_down",
                priority_reason="whole office down",
                tier="managed",
                opened_at=datetime(2026, 3, 10, 10, tzinfo=UTC),
            ),
            customer_id=CUSTOMER,
            source="/incidents",
            time=datetime(2026, 3, 10, 10, tzinfo=UTC),
            id="inc-1-opened",
        ),
        make_event(
            IncidentResolved(
                incident_id="inc-1",
                resolved_at=datetime(2026, 3, 10, 11, tzinfo=UTC),
                duration_seconds=3600,
                reason="recovered",
            ),
            customer_id=CUSTOMER,
            source="/incidents",
            time=datetime(2026, 3, 10, 11, tzinfo=UTC),
            id="inc-1-resolved",
        ),
    ]

    tue = lambda h, m=0: london(2026, 3, 10, h, m)  # noqa: E731
    inputs = [
        # Friday 17:55, P3 = 1 business hour to respond, office opens 08:00
        created("T-fri", london(2026, 3, 6, 17, 55)),
        # the pause (09:30) it ends arrives after the resume (09:40): see `late` below
        created("T-late", tue(9)),
        status("T-late", tue(9, 40), "in_progress", 2),
        # waiting on the customer pauses the clocks
        created("T-pause", tue(9), "P2"),
        reply("T-pause", tue(9, 5)),
        status("T-pause", tue(10), "waiting_on_customer", 1),
        status("T-pause", london(2026, 3, 11, 10), "in_progress", 2),
        # upgrade P3 -> P2 after 20 min: 30 min target, elapsed kept -> due 09:30
        created("T-up", tue(9)),
        ticket_event(
            TicketPriorityChanged(ticket_id="T-up", priority="P2", changed_at=tue(9, 20)),
            id="T-up-priority",
        ),
        # resolved then reopened: a second resolution cycle
        created("T-reopen", tue(9), "P2"),
        reply("T-reopen", tue(9, 5)),
        ticket_event(
            TicketResolved(ticket_id="T-reopen", resolution_code="fixed", resolved_at=tue(9, 20)),
            id="T-reopen-resolved",
        ),
        ticket_event(
            TicketReopened(ticket_id="T-reopen", reopened_at=tue(11)), id="T-reopen-reopened"
        ),
        # an excluded asset: no clock, a reason
        created("T-xp", tue(9), device_id="ws-legacy-xp01"),
    ]
    # The PSA sends in time order, except one late event, 10 minutes late.
    inputs.sort(key=lambda e: e.time)
    late = status("T-late", tue(9, 30), "waiting_on_customer", 1)
    inputs.insert(next(i for i, e in enumerate(inputs) if e.time > tue(9, 40)), late)
    await service.send(tickets, inputs)

    async def consumed() -> bool:
        return await service.db.fetchval("SELECT count(*) FROM tickets") == 6

    await wait_for_async(consumed, timeout=60, message="all tickets consumed")
    # (sent after the tickets: incident times advance event time too)
    await service.send(INCIDENTS.named(service.namespace), outage)

    # Event time is now Wednesday 10:00 (the latest event): Friday's ticket has long
    # breached (caught up by the consumer); nothing after Wednesday 10:00 has fired.
    # Wait for the named ones, not just a count: when the tickets arrive in several
    # batches, Friday's breach is fired by the scheduler and may be relayed after
    # breaches the consumer caught up on.
    expected = {("T-fri", "first_response", 1), ("T-up", "first_response", 1)}
    expected.add(("T-late", "first_response", 1))

    async def four_breaches() -> dict[tuple[str, str, int], SlaBreached] | None:
        found = await breaches(service)
        return found if len(found) >= 4 and expected <= found.keys() else None

    found = await wait_for_async(four_breaches, timeout=60, message="first breaches")
    assert found[("T-fri", "first_response", 1)].breached_at == london(2026, 3, 9, 8, 55)
    assert found[("T-up", "first_response", 1)].breached_at == tue(9, 30)
    assert found[("T-up", "first_response", 1)].priority == "P2"
    assert found[("T-late", "first_response", 1)].breached_at == tue(10, 10)  # 10 min paused
    assert ("T-pause", "resolution", 1) not in found

    # No ticket event for T-pause's clock: advancing event time alone (another ticket,
    # Thursday noon) makes the scheduler fire its breach at Wednesday 17:00 — seven
    # business hours after the resume.
    await service.send(tickets, [created("T-tick", london(2026, 3, 12, 12))])

    async def pause_breached() -> SlaBreached | None:
        return (await breaches(service)).get(("T-pause", "resolution", 1))

    late = await wait_for_async(pause_breached, timeout=60, message="scheduled breach")
    assert late.breached_at == london(2026, 3, 11, 17)

    # -- the ticket API --------------------------------------------------------------
    fri = (await service.http.get("/v1/tickets/T-fri/sla")).json()
    response = next(c for c in fri["clocks"] if c["metric"] == "first_response")
    assert response["outcome"] == "breached" and response["contract_version"] == 1
    assert response["due_at"].startswith("2026-03-09T08:55")
    pause = (await service.http.get("/v1/tickets/T-pause/sla")).json()
    resolution = next(c for c in pause["clocks"] if c["metric"] == "resolution")
    assert [(p["status"], p["end"] is not None) for p in resolution["pauses"]] == [
        ("waiting_on_customer", True)
    ]
    reopen = (await service.http.get("/v1/tickets/T-reopen/sla")).json()
    cycles = {(c["metric"], c["cycle"]): c["outcome"] for c in reopen["clocks"]}
    assert cycles[("resolution", 1)] == "met" and ("resolution", 2) in cycles
    xp = (await service.http.get("/v1/tickets/T-xp/sla")).json()
    assert xp["clocks"] == [] and "below minimum standard" in xp["no_clock_reason"]
    missing = await service.http.get("/v1/tickets/nope/sla")
    assert missing.status_code == 404

    # -- the monthly report agrees with the ticket API, clock by clock -----------------
    async def outage_stored() -> bool:
        sql = "SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL"
        return bool(await service.db.fetchval(sql))

    await wait_for_async(outage_stored, timeout=60, message="incident stored")
    report = (await service.http.get(f"/v1/customers/{CUSTOMER}/sla-report?month=2026-03")).json()
    from_api = {}
    for ticket in ("T-fri", "T-pause", "T-up", "T-reopen", "T-late", "T-xp", "T-tick"):
        for clock in (await service.http.get(f"/v1/tickets/{ticket}/sla")).json()["clocks"]:
            from_api[clock["clock_id"]] = clock
    assert {c["clock_id"]: c for c in report["clocks"]} == from_api
    assert report["contract_versions"] == [1]
    # (T-reopen's second cycle: 8 business hours from Tuesday 11:00 ran out Wednesday)
    assert {b["ticket_id"] for b in report["breaches"]} == {
        "T-fri",
        "T-up",
        "T-late",
        "T-pause",
        "T-reopen",
    }
    reopen_breach = [b for b in report["breaches"] if b["ticket_id"] == "T-reopen"]
    assert [(b["metric"], b["cycle"]) for b in reopen_breach] == [("resolution", 2)]
    assert all(b["contract_version"] == 1 and "v1" in b["reason"] for b in report["breaches"])
    csv = await service.http.get(
        f"/v1/customers/{CUSTOMER}/sla-report?month=2026-03", headers={"accept": "text/csv"}
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 1 + len(from_api)
    page = await service.http.get(f"/v1/customers/{CUSTOMER}/sla-report?month=2026-03&format=html")
    assert "<h2>Breaches</h2>" in page.text and "T-fri" in page.text
    availability = report["availability"]
    assert availability["downtime_seconds"] == 3600 and availability["incidents"] == 1
    assert availability["target_percent"] == "99.5"
    assert availability["met"] is (float(availability["measured_percent"]) >= 99.5)
    bad = await service.http.get(f"/v1/customers/{CUSTOMER}/sla-report?month=2026-13")
    assert bad.status_code == 422 and "month" in bad.text

    # -- the dispatch queue: priority, then tier, then time left to breach ---------------
    queue = (await service.http.get("/v1/queue")).json()
    assert [q["ticket_id"] for q in queue] == [
        "T-up",  # P2, first response due Tuesday 09:30 (overdue)
        "T-reopen",  # P2, cycle 2 due Wednesday 09:00
        "T-pause",  # P2, due Wednesday 17:00
        "T-fri",  # P3, due Monday 08:55
        "T-late",  # P3, due Tuesday 10:10
        "T-tick",  # P3, due Thursday
        "T-xp",  # P3, no clock (excluded asset)
    ]
    keys = [
        dispatch_key(
            priority=q["priority"],
            tier=q["tier"],
            next_due_at=q["next_due_at"] and datetime.fromisoformat(q["next_due_at"]),
            opened_at=q["opened_at"] and datetime.fromisoformat(q["opened_at"]),
            ticket_id=q["ticket_id"],
        )
        for q in queue
    ]
    assert keys == sorted(keys), "the SQL order and the documented rule agree"

    # -- every emitted id is unique and started events name the contract version -------
    events = await service.sla_events()
    assert len({e.id for e in events}) == len(events)
    started = [e.data for e in events if isinstance(e.data, SlaClockStarted)]
    assert started and all(s.contract_version == 1 for s in started)

    # -- a replay of the same topics (new group, new schema) gives the same outcomes and
    # the same output ids, although it sees everything at once, not in steps ----------
    replayed: Service = await start_service(
        scheduler_clock="event_time",
        schema=schema_of(service.namespace) + "_replay",
        service_name="sla-clock-replay",
    )

    sql = "SELECT event_id FROM outbox ORDER BY event_id"
    original = [r[0] for r in await service.db.fetch(sql)]

    async def same_outputs() -> bool:
        assert [r[0] for r in await replayed.db.fetch(sql)] == original
        return True

    await wait_for_async(same_outputs, timeout=60, message="the replay's outputs")
    clocks_sql = "SELECT * FROM clocks ORDER BY ticket_id, metric, cycle"
    assert [dict(r) for r in await replayed.db.fetch(clocks_sql)] == [
        dict(r) for r in await service.db.fetch(clocks_sql)
    ]


async def test_wall_clock_fires_a_deadline_without_any_new_event(
    start_service: Callable[..., Any],
) -> None:
    """The scheduler's injected wall clock: moving it past a deadline fires the breach
    although no event arrives."""
    opened = datetime(2026, 3, 10, 12, tzinfo=UTC)
    fake_now = [opened + timedelta(minutes=1)]
    service: Service = await start_service(clock=WallClock(lambda: fake_now[0]))
    await service.send(CONTRACTS.named(service.namespace), [contract_event()])
    await wait_for_async(contract_stored(service), timeout=60, message="contract stored")
    await service.send(TICKETS.named(service.namespace), [created("T-p1", opened, "P1")])

    async def has_deadlines() -> bool:
        return await service.db.fetchval("SELECT count(*) FROM deadlines") > 0

    await wait_for_async(has_deadlines, timeout=60, message="deadlines scheduled")
    assert await service.db.fetchval("SELECT count(*) FROM emitted") == 2  # started x2
    fake_now[0] = opened + timedelta(minutes=16)  # P1 first response: 15 min, 24x7

    async def fired() -> SlaBreached | None:
        return (await breaches(service)).get(("T-p1", "first_response", 1))

    breach = await wait_for_async(fired, timeout=60, message="breach fired by the scheduler")
    assert breach.breached_at == opened + timedelta(minutes=15)
    assert breach.escalation_level == 3
    clock = (await service.http.get("/v1/tickets/T-p1/sla")).json()["clocks"]
    response = next(c for c in clock if c["metric"] == "first_response")
    assert response["outcome"] == "breached"
    assert response["remaining_business_seconds"] == -60
    metrics = (await service.http.get("/metrics")).text
    assert 'msp_sla_clock_breaches_total{priority="P1",tier="managed"}' in metrics
    assert 'msp_sla_clock_emission_lag_seconds_count{kind="breach"}' in metrics

    async def gauge() -> list[str]:
        text = (await service.http.get("/metrics")).text
        lines = [line for line in text.splitlines() if line.startswith("msp_sla_clock_clocks{")]
        # both clocks still run (a breached clock keeps counting until it stops)
        assert lines == ['msp_sla_clock_clocks{priority="P1",state="running",tier="managed"} 2.0']
        return lines

    await wait_for_async(gauge, timeout=30, message="running-clocks gauge")
