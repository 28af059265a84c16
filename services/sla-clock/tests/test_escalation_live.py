"""Every escalation step on time through the real broker and Postgres: a P2 ticket left
alone runs to 75 %, 90 %, 100 % and 150 % of its resolution target; the scheduler
announces each step once, at its instant, with no further event, also when the
service is killed between steps."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from msp_devstack.processes import free_port
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import Envelope, decode, make_event
from msp_events.topics import CONTRACTS, INCIDENTS, SLA, TICKETS
from msp_events.types.incidents import IncidentOpened
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaWarning
from sla_clock.clock import replay
from sla_clock.service import transition_of
from sla_clock.timesource import WallClock

from .conftest import Service, escalating_contract, prepare, schema_of, start_process, stop_process
from .test_escalation import OPENED, STEPS
from .test_scenarios import created

pytestmark = pytest.mark.integration
CUSTOMER = "cust-1"


def contract_event() -> Envelope:
    return make_event(
        escalating_contract(),
        customer_id=CUSTOMER,
        source="/crm",
        # learnt in November: no monthly report falls due during the test (monthly.py)
        time=datetime(2026, 11, 2, tzinfo=UTC),
        id="contract-escalating",
    )


def steps_on_topic(events: list[Envelope], metric: str = "resolution") -> list[tuple[int, Any]]:
    """(percent, instant) of the warnings, breach and escalations of `metric`, in topic
    order (one ticket: one partition)."""
    found: list[tuple[int, Any]] = []
    for e in events:
        d = e.data
        if getattr(d, "metric", None) != metric:
            continue
        if isinstance(d, SlaWarning | SlaEscalated):
            found.append((d.threshold_percent, d.at))
        elif isinstance(d, SlaBreached):
            found.append((100, d.breached_at))
    return found


async def test_a_quiet_p2_ticket_gets_each_step_once_at_its_instant(
    start_service: Callable[..., Any],
) -> None:
    now = [OPENED]
    service: Service = await start_service(clock=WallClock(lambda: now[0]))
    await service.send(CONTRACTS.named(service.namespace), [contract_event()])
    await wait_for_async(lambda: service.db.fetchval("SELECT count(*) FROM contracts"), timeout=60)
    await service.send(TICKETS.named(service.namespace), [created("T", OPENED, "P2")])
    await wait_for_async(
        lambda: service.db.fetchval("SELECT count(*) FROM deadlines WHERE percent = 150"),
        timeout=60,
        message="the ticket's deadlines",
    )
    scheduler = service.runtime.scheduler
    assert scheduler is not None
    for percent in (75, 90, 100, 150):
        now[0] = STEPS[percent] - timedelta(seconds=1)
        await scheduler.run_once()  # a second early: the step is still ahead
        pending = await service.db.fetchval(
            """SELECT count(*) FROM deadlines WHERE metric = 'resolution' AND percent = $1""",
            percent,
        )
        assert pending == 1, f"{percent} % fired early"
        now[0] = STEPS[percent]

        async def announced(percent: int = percent) -> bool:
            return percent in [p for p, _ in steps_on_topic(await service.sla_events())]

        await wait_for_async(announced, timeout=60, message=f"{percent} % step on the topic")

    events = await service.sla_events()
    assert steps_on_topic(events) == [(p, STEPS[p]) for p in (75, 90, 100, 150)]
    assert [p for p, _ in steps_on_topic(events, "first_response")] == [75, 90, 100, 150, 200]
    assert max(Counter(e.id for e in events).values()) == 1
    escalated = next(e for e in events if isinstance(e.data, SlaEscalated) and e.subject == "T")
    assert escalated.time == escalated.data.at
    assert escalated.data.timezone == "Europe/London"
    # the 200 % step waits for its own instant
    assert (
        await service.db.fetchval("SELECT due_at FROM deadlines WHERE metric = 'resolution'")
        == STEPS[200]
    )


# -- killed between steps ------------------------------------------------------------------


def tick(at: datetime, n: int) -> Envelope:
    """An incident event: it moves the event-time clock and nothing else of the ticket."""
    data = IncidentOpened(
        incident_id=f"inc-tick-{n}",
        title="tick",
        priority="P4",
        impact="low",
        urgency="low",
        scope="device",
        device_ids=["dev-tick"],
        alert_fingerprints=[f"fp-{n}"],
        check_kind="server_down",
        priority_reason="test clock",
        tier="managed",
        opened_at=at,
    )
    return make_event(data, customer_id=CUSTOMER, source="/incidents", time=at, id=f"tick-{n}")


async def test_killed_between_steps_each_step_is_still_published_once(
    kafka_bootstrap: str, database_url: str, namespace: str, tmp_path: Path
) -> None:
    """Event time: each step's tick makes the scheduler fire it; the process is SIGKILLed
    right after the scheduler's commit of the 75 %, 90 % and 100 % steps (before the
    relay), so a kill falls between every two steps; a last process fires 150 %."""
    schema = schema_of(namespace)
    await prepare(kafka_bootstrap, database_url, namespace, schema)
    env = service_env(
        kafka=kafka_bootstrap,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        MSP_SCHEDULER_CLOCK="event_time",
    )
    log = tmp_path / "service.log"
    ticket = created("T", OPENED, "P2")
    db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        await produce(kafka_bootstrap, CONTRACTS.named(namespace), [contract_event()])
        for n, percent in enumerate((75, 90, 100)):
            crashing = await start_process(
                {**env, "MSP_CRASH_POINT": "scheduler.after_commit:1"}, log
            )
            try:
                if n == 0:  # the ticket is clocked before time moves
                    await wait_for_async(
                        lambda: db.fetchval("SELECT count(*) FROM contracts"), timeout=60
                    )
                    await produce(kafka_bootstrap, TICKETS.named(namespace), [ticket])
                    await wait_for_async(
                        lambda: db.fetchval("SELECT count(*) FROM deadlines"), timeout=60
                    )
                await produce(
                    kafka_bootstrap, INCIDENTS.named(namespace), [tick(STEPS[percent], n)]
                )
                rc = await asyncio.wait_for(crashing.wait(), 120)
            finally:
                if crashing.returncode is None:
                    crashing.kill()
                    await crashing.wait()
            assert rc == -signal.SIGKILL, f"no crash after the {percent} % step:\n{log.read_text()}"
            assert not await db.fetchval(
                "SELECT count(*) FROM deadlines WHERE metric = 'resolution' AND percent = $1",
                percent,
            ), f"{percent} % not fired"

        expected = {
            em.event_id
            for em in replay(
                [transition_of(ticket)],  # type: ignore[list-item]
                escalating_contract(),
                ticket_id="T",
                now=STEPS[150],
            ).emissions
        }
        healthy = await start_process({**env, "MSP_HTTP_PORT": str(free_port())}, log)
        try:
            await produce(kafka_bootstrap, INCIDENTS.named(namespace), [tick(STEPS[150], 3)])

            async def relayed() -> bool:
                unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                return unsent == 0 and await db.fetchval("SELECT count(*) FROM emitted") == len(
                    expected
                )

            await wait_for_async(relayed, timeout=120, message="every step relayed")
        finally:
            await stop_process(healthy)
    finally:
        await db.close()

    events = [decode(r.value) for r in await read_topic(kafka_bootstrap, SLA.named(namespace))]
    ids = Counter(e.id for e in events)
    assert set(ids) == expected and max(ids.values()) == 1, "lost or repeated SLA events"
    assert steps_on_topic(events) == [(p, STEPS[p]) for p in (75, 90, 100, 150)]
