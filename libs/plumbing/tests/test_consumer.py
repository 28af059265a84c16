"""The transactional consumer in-process against the real broker and Postgres:
duplicates, dead letters, poison records, resuming from offsets stored in Postgres."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType

import asyncpg
import pytest

from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import Envelope, decode, encode, make_event
from msp_events.topics import TICKETS
from msp_events.types.tickets import TicketCreated
from msp_plumbing.consumer import Tx
from msp_plumbing.runtime import ServiceRuntime
from msp_plumbing.settings import ServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str
) -> ServiceSettings:
    return ServiceSettings(
        service_name="plumbingtest",
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        db_schema=schema,
        topic_namespace=namespace,
        consumer_batch_size=50,
    )


@pytest.fixture
async def start_runtime(
    settings: ServiceSettings, topics: dict[str, str], worker_module: ModuleType
) -> AsyncIterator[Callable[..., object]]:
    started: list[ServiceRuntime] = []

    async def start(poison: str | None = None) -> ServiceRuntime:
        runtime = ServiceRuntime(settings)
        runtime.add_consumer("main", [TICKETS], worker_module.make_handler(topics["out"], poison))
        await runtime.start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        await runtime.stop()


async def seen(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM seen"))


async def test_same_event_id_twice_is_applied_once(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    start_runtime: Callable[..., object],
) -> None:
    events = make_tickets(3)
    await produce(kafka_bootstrap, topics["in"], [*events, events[1], events[1]])
    await start_runtime()  # type: ignore[operator]
    await until_seen(db, 3)
    await until_records(kafka_bootstrap, topics["out"], 3)
    dupes = await db.fetchval("SELECT count(*) FROM processed_events")
    assert dupes == 3


async def test_garbage_goes_to_dead_letters_and_consumer_keeps_going(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    start_runtime: Callable[..., object],
) -> None:
    bad_event = json.loads(
        b'{"specversion":"1.0","id":"bad-1","source":"/psa","type":"msp.ticket.created.v1",'
        b'"time":"2026-03-02T09:00:00Z","customerid":"cust-1","data":{"ticket_id":"X"}}'
    )
    raw = [(b"cust-1", b"\x00\xffnot json"), (b"cust-1", json.dumps(bad_event).encode())]
    await produce(kafka_bootstrap, topics["in"], make_tickets(2), raw=raw)
    await start_runtime()  # type: ignore[operator]
    await until_seen(db, 2)
    await until_records(kafka_bootstrap, topics["dlq"], 2)
    letters = [decode(r.value) for r in await read_topic(kafka_bootstrap, topics["dlq"])]
    by_value = {base64.b64decode(d.data.original_value_b64): d.data for d in letters}  # type: ignore[attr-defined]
    garbage = by_value[b"\x00\xffnot json"]
    assert garbage.reason.startswith("invalid event") and garbage.original_topic == topics["in"]
    invalid = by_value[json.dumps(bad_event).encode()]
    assert invalid.error_pointer == "/data/title" or "/data/" in invalid.reason
    assert all(d.customer_id == "cust-1" for d in letters)


async def test_poison_record_is_dead_lettered_not_blocking(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    start_runtime: Callable[..., object],
) -> None:
    await produce(kafka_bootstrap, topics["in"], make_tickets(5))
    await start_runtime(poison="T2")  # type: ignore[operator]
    await until_seen(db, 4)
    await until_records(kafka_bootstrap, topics["dlq"], 1)
    (letter,) = [decode(r.value) for r in await read_topic(kafka_bootstrap, topics["dlq"])]
    assert "cannot triage T2" in letter.data.reason  # type: ignore[attr-defined]


async def test_restart_resumes_from_offsets_in_postgres(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    start_runtime: Callable[..., object],
    settings: ServiceSettings,
) -> None:
    await produce(kafka_bootstrap, topics["in"], make_tickets(4, prefix="A"))
    first = await start_runtime()  # type: ignore[operator]
    await until_seen(db, 4)
    await first.stop()  # type: ignore[attr-defined]
    stored = await db.fetchval(
        "SELECT sum(next_offset) FROM consumer_offsets WHERE group_id = $1",
        settings.group_id("main"),
    )
    assert stored == 4
    await produce(kafka_bootstrap, topics["in"], make_tickets(3, prefix="B"))
    await start_runtime()  # type: ignore[operator]
    await until_seen(db, 7)
    await until_records(kafka_bootstrap, topics["out"], 7)


async def until_seen(db: asyncpg.Connection, n: int) -> None:
    async def check() -> bool:
        return await seen(db) == n

    await wait_for_async(check, timeout=30, message=f"{n} tickets applied")


async def until_records(bootstrap: str, topic: str, n: int) -> None:
    async def check() -> bool:
        return len(await read_topic(bootstrap, topic)) == n

    await wait_for_async(check, timeout=30, message=f"{n} records on {topic}")


async def test_batch_handler_applies_set_based_and_still_isolates_poison(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    settings: ServiceSettings,
) -> None:
    calls: list[int] = []

    async def apply_all(tx: Tx, events: Sequence[Envelope]) -> None:
        calls.append(len(events))
        ids = [e.data.ticket_id for e in events]  # type: ignore[attr-defined]
        if "T3" in ids:
            raise ValueError("T3 is poison")
        await tx.conn.execute(
            "INSERT INTO seen (ticket_id, event_id) SELECT * FROM unnest($1::text[], $2::text[])",
            ids,
            [e.id for e in events],
        )

    events = make_tickets(20)  # several per partition, so batches hold many events
    await produce(kafka_bootstrap, topics["in"], [*events, events[0]])
    runtime = ServiceRuntime(settings)
    runtime.add_consumer("main", [TICKETS], batch_handler=apply_all)
    await runtime.start()
    try:
        await until_seen(db, 19)
        await until_records(kafka_bootstrap, topics["dlq"], 1)
    finally:
        await runtime.stop()
    assert max(calls) > 1, "the handler saw whole batches, not single events"
    (letter,) = [decode(r.value) for r in await read_topic(kafka_bootstrap, topics["dlq"])]
    assert "T3 is poison" in letter.data.reason  # type: ignore[attr-defined]


async def test_on_commit_counts_a_retried_and_re_applied_batch_once(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    settings: ServiceSettings,
) -> None:
    """The first attempt fails with a transient error after the handler did its work
    (the batch is retried), and T3 is poison (the batch is re-applied record by
    record): `Tx.on_commit` callbacks run for what committed only, each event once."""
    counted: list[str] = []
    attempts: list[int] = []

    async def apply_all(tx: Tx, events: Sequence[Envelope]) -> None:
        attempts.append(len(events))
        ids = [e.data.ticket_id for e in events]  # type: ignore[attr-defined]
        tx.on_commit.append(lambda: counted.extend(ids))
        if len(attempts) == 1:
            raise ConnectionResetError("connection lost before the commit")
        if "T3" in ids:
            raise ValueError("T3 is poison")
        await tx.conn.execute(
            "INSERT INTO seen (ticket_id, event_id) SELECT * FROM unnest($1::text[], $2::text[])",
            ids,
            [e.id for e in events],
        )

    events = make_tickets(10)
    await produce(kafka_bootstrap, topics["in"], events)
    runtime = ServiceRuntime(settings)
    runtime.add_consumer("main", [TICKETS], batch_handler=apply_all)
    await runtime.start()
    try:
        await until_seen(db, 9)
        await until_records(kafka_bootstrap, topics["dlq"], 1)
    finally:
        await runtime.stop()
    assert len(attempts) > 2, "the batch was retried and re-applied"
    assert sorted(counted) == sorted(f"T{i}" for i in range(10) if i != 3)


async def test_a_parked_event_that_fails_on_release_is_dead_lettered_alone(
    kafka_bootstrap: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    settings: ServiceSettings,
) -> None:
    """Tickets W1 and WBAD wait for context; GO releases them. WBAD fails when applied:
    it is dead-lettered with its own original bytes, GO and W1 are applied."""
    await db.execute("CREATE TABLE waiting (event_id text PRIMARY KEY, ticket_id text)")

    async def apply_all(tx: Tx, events: Sequence[Envelope]) -> None:
        for event in events:
            ticket = event.data.ticket_id  # type: ignore[attr-defined]
            if ticket.startswith("W"):
                await tx.conn.execute("INSERT INTO waiting VALUES ($1, $2)", event.id, ticket)
                await tx.park([event.id])
                continue
            await tx.conn.execute("INSERT INTO seen VALUES ($1, $2)", ticket, event.id)
            for row in await tx.conn.fetch("DELETE FROM waiting RETURNING *"):
                if row["ticket_id"] == "WBAD":
                    sent = await tx.dead_letter_parked([row["event_id"]], reason="WBAD is bad")
                    assert sent == [row["event_id"]]
                    continue
                await tx.conn.execute(
                    "INSERT INTO seen VALUES ($1, $2)", row["ticket_id"], row["event_id"]
                )
                await tx.unpark([row["event_id"]])

    w1, bad, go = (ticket_on("cust-1", t) for t in ("W1", "WBAD", "GO"))
    await produce(kafka_bootstrap, topics["in"], [w1, bad])
    runtime = ServiceRuntime(settings)
    runtime.add_consumer("main", [TICKETS], batch_handler=apply_all)
    await runtime.start()
    try:
        await wait_for_async(
            lambda: db.fetchval("SELECT count(*) = 2 FROM parked_records"),
            timeout=30,
            message="two parked records",
        )
        await produce(kafka_bootstrap, topics["in"], [go])
        await until_seen(db, 2)
        await until_records(kafka_bootstrap, topics["dlq"], 1)
    finally:
        await runtime.stop()
    assert {r["ticket_id"] for r in await db.fetch("SELECT ticket_id FROM seen")} == {"W1", "GO"}
    assert await db.fetchval("SELECT count(*) FROM parked_records") == 0
    (record,) = await read_topic(kafka_bootstrap, topics["dlq"])
    letter = decode(record.value).data
    originals = {
        (r.partition, r.offset): r for r in await read_topic(kafka_bootstrap, topics["in"])
    }
    assert letter.reason == "WBAD is bad"  # type: ignore[attr-defined]
    original = originals[(letter.original_partition, letter.original_offset)]  # type: ignore[attr-defined]
    assert letter.original_value() == original.value == encode(bad).value  # type: ignore[attr-defined]
    assert letter.original_key() == b"cust-1"  # type: ignore[attr-defined]


def ticket_on(customer_id: str, ticket_id: str) -> Envelope:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    data = TicketCreated(
        ticket_id=ticket_id,
        title="printer jammed",
        priority="P3",
        category="help_desk",
        source="phone",
        opened_at=at,
    )
    return make_event(
        data,
        customer_id=customer_id,
        source="/psa",
        time=at,
        subject=ticket_id,
        id=f"evt-{ticket_id}",
    )
