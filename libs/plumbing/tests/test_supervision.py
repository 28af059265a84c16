"""Supervision: background loops survive a Postgres restart and a frozen Postgres on
their own (no process restart), `/readyz` tells the truth meanwhile, a loop that dies
for good is reported and ends the service, and `stop()` stays bounded during a fault.

The integration cases run their own Postgres (`LocalPostgres`), since restarting or
freezing the session's would disturb every other test; the broker is the session's."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType

import asyncpg
import httpx
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    LeaderNotAvailableError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)

from msp_devstack.postgres import LocalPostgres
from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events import Envelope
from msp_events.topics import TICKETS
from msp_plumbing.app import create_app
from msp_plumbing.migrations import migrate
from msp_plumbing.runtime import ServiceRuntime
from msp_plumbing.settings import ServiceSettings
from msp_plumbing.supervise import Backoff, Supervisor, is_transient

# -- the mechanism on its own ----------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): released"),
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        KafkaConnectionError("broker away"),
        NotLeaderForPartitionError(),
        LeaderNotAvailableError(),
        RequestTimedOutError(),
        ExceptionGroup("both", [OSError("a"), KafkaConnectionError("b")]),
    ],
    ids=repr,
)
def test_transient_errors_are_recognised(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        ExceptionGroup("mixed", [OSError("a"), KeyError("b")]),
    ],
    ids=repr,
)
def test_other_errors_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)


def test_backoff_grows_and_stays_bounded() -> None:
    backoff = Backoff(base_s=0.1, cap_s=2.0)
    for attempt in range(40):
        delay = backoff.delay(attempt)
        assert 0.1 <= delay <= 2.0
    assert max(backoff.delay(0) for _ in range(50)) <= 0.2


def flaky(failures: list[BaseException], ran: list[int]) -> Callable[[], asyncio.Future[None]]:
    """A loop that raises the given errors on its first calls, then runs until
    cancelled."""

    async def loop() -> None:
        ran.append(1)
        if failures:
            raise failures.pop(0)
        await asyncio.Event().wait()

    return loop  # type: ignore[return-value]


async def test_transient_failures_restart_the_loop_until_it_runs() -> None:
    fatal: list[str] = []
    supervisor = Supervisor(
        on_fatal=lambda name, exc: fatal.append(name), backoff=Backoff(0.01, 0.02)
    )
    ran: list[int] = []
    supervisor.spawn("relay", flaky([OSError("down"), KafkaConnectionError("away")], ran))
    health = supervisor.health["relay"]
    await wait_for_async(lambda: len(ran) == 3 and health.state == "running", timeout=5)
    assert health.restarts == 2 and fatal == []
    assert supervisor.problems() == []
    await supervisor.stop()


async def test_a_loop_that_dies_for_good_is_fatal_and_reported() -> None:
    fatal: list[str] = []
    supervisor = Supervisor(on_fatal=lambda name, exc: fatal.append(name))
    supervisor.spawn("scheduler", flaky([ValueError("a bug")], []))
    await wait_for_async(lambda: fatal == ["scheduler"], timeout=5)
    assert supervisor.problems() == ["scheduler died: ValueError('a bug')"]
    await supervisor.stop()


async def test_a_loop_failing_past_the_deadline_is_fatal() -> None:
    fatal: list[str] = []
    supervisor = Supervisor(
        on_fatal=lambda name, exc: fatal.append(name),
        backoff=Backoff(0.01, 0.02),
        give_up_after_s=0.3,
        not_ready_after_s=0.1,
    )

    async def always_down() -> None:
        raise OSError("connection refused")

    supervisor.spawn("claims", always_down)
    await wait_for_async(lambda: supervisor.problems(), timeout=5)  # retrying: not ready
    await wait_for_async(lambda: fatal == ["claims"], timeout=5)
    assert supervisor.health["claims"].state == "failed"
    await supervisor.stop()


async def test_a_dead_loop_fails_healthz_and_readyz_and_calls_on_fatal() -> None:
    settings = ServiceSettings(
        service_name="apptest",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        DATABASE_URL="postgresql://x@127.0.0.1:1/x",
    )
    runtime = ServiceRuntime(settings)
    ended: list[bool] = []
    runtime.on_fatal = lambda: ended.append(True)

    async def broken() -> None:
        raise RuntimeError("lost its state")

    runtime.spawn_task("pruner", broken)
    await wait_for_async(lambda: ended == [True], timeout=5)
    app = create_app(runtime=runtime, title="apptest")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).status_code == 503
        ready = await c.get("/readyz")
    assert ready.status_code == 503
    assert "lost its state" in ready.json()["checks"]["background"]
    await runtime.stop()


# -- against a real Postgres that restarts or freezes -----------------------------------


@pytest.fixture
async def own_postgres(server_data_dir: Path) -> AsyncIterator[LocalPostgres]:
    postgres = LocalPostgres(server_data_dir, durable=False)
    await asyncio.to_thread(postgres.start)
    try:
        yield postgres
    finally:
        if postgres.pid is not None:
            postgres.thaw()  # a failed test may leave it frozen; stop needs it awake
        await asyncio.to_thread(postgres.stop)


async def running_service(
    postgres: LocalPostgres,
    *,
    kafka: str,
    schema: str,
    namespace: str,
    out_topic: str,
    worker: ModuleType,
) -> tuple[ServiceRuntime, httpx.AsyncClient, list[bool]]:
    await migrate(postgres.database_url, schema=schema)
    conn = await asyncpg.connect(postgres.database_url, server_settings={"search_path": schema})
    await conn.execute(worker.SEEN_DDL)
    await conn.close()
    settings = ServiceSettings(
        service_name="supervised",
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=postgres.database_url,
        db_schema=schema,
        topic_namespace=namespace,
        consumer_batch_size=5,
        supervisor_not_ready_s=1.0,
    )
    runtime = ServiceRuntime(settings)
    runtime.add_consumer("main", [TICKETS], worker.make_handler(out_topic))
    ended: list[bool] = []
    runtime.on_fatal = lambda: ended.append(True)
    await runtime.start()
    app = create_app(runtime=runtime, title="supervised")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return runtime, client, ended


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def not_ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 503


async def wait_outputs(kafka: str, topic: str, n: int) -> list[str]:
    async def enough() -> list[str]:
        records = await read_topic(kafka, topic)
        return [r.value.decode() for r in records] if len(records) >= n else []

    values: list[str] = await wait_for_async(enough, timeout=90, interval=0.5)
    return values


@pytest.mark.integration
async def test_postgres_restart_is_survived_without_a_process_restart(
    kafka_bootstrap: str,
    namespace: str,
    schema: str,
    topics: dict[str, str],
    worker_module: ModuleType,
    own_postgres: LocalPostgres,
    make_tickets: Callable[..., list[Envelope]],
) -> None:
    runtime, client, ended = await running_service(
        own_postgres,
        kafka=kafka_bootstrap,
        schema=schema,
        namespace=namespace,
        out_topic=topics["out"],
        worker=worker_module,
    )
    try:
        before, during = make_tickets(15, prefix="A"), make_tickets(15, prefix="B")
        await produce(kafka_bootstrap, topics["in"], before)
        await wait_outputs(kafka_bootstrap, topics["out"], 15)
        assert await ready(client)

        restart = asyncio.create_task(asyncio.to_thread(own_postgres.restart, down_s=5))
        await wait_for_async(lambda: not_ready(client), timeout=30, interval=0.3)
        await produce(kafka_bootstrap, topics["in"], during)  # consumed once it is back
        await restart
        await wait_for_async(lambda: ready(client), timeout=60, interval=0.5)

        values = await wait_outputs(kafka_bootstrap, topics["out"], 30)
        ids = Counter(_event_id(v) for v in values)
        assert len(ids) == 30 and set(ids.values()) == {1}, ids.most_common(3)
        assert runtime.failure is None and ended == []
        relay = runtime.supervisor.health["outbox-relay"]
        assert relay.restarts >= 1 and relay.state == "running"  # restarted, not stuck
    finally:
        await client.aclose()
        await runtime.stop()


@pytest.mark.integration
async def test_frozen_postgres_turns_readyz_red_and_stop_stays_bounded(
    kafka_bootstrap: str,
    namespace: str,
    schema: str,
    topics: dict[str, str],
    worker_module: ModuleType,
    own_postgres: LocalPostgres,
    make_tickets: Callable[..., list[Envelope]],
) -> None:
    runtime, client, ended = await running_service(
        own_postgres,
        kafka=kafka_bootstrap,
        schema=schema,
        namespace=namespace,
        out_topic=topics["out"],
        worker=worker_module,
    )
    try:
        await produce(kafka_bootstrap, topics["in"], make_tickets(10, prefix="C"))
        await wait_outputs(kafka_bootstrap, topics["out"], 10)
        await asyncio.to_thread(own_postgres.freeze)
        try:
            await produce(kafka_bootstrap, topics["in"], make_tickets(10, prefix="D"))
            await wait_for_async(lambda: not_ready(client), timeout=30, interval=0.3)
        finally:
            await asyncio.to_thread(own_postgres.thaw)
        await wait_for_async(lambda: ready(client), timeout=60, interval=0.5)
        values = await wait_outputs(kafka_bootstrap, topics["out"], 20)
        ids = Counter(_event_id(v) for v in values)
        assert len(ids) == 20 and set(ids.values()) == {1}, ids.most_common(3)
        assert runtime.failure is None and ended == []

        # SIGTERM during a fault: the runtime stops within its bounds, frozen or not
        await asyncio.to_thread(own_postgres.freeze)
        began = time.monotonic()
        await runtime.stop()
        stopped_in = time.monotonic() - began
    finally:
        await asyncio.to_thread(own_postgres.thaw)
        await client.aclose()
        await runtime.stop()
    assert stopped_in < 20, f"stop took {stopped_in:.1f} s with Postgres frozen"


def _event_id(value: str) -> str:
    import json

    event_id: str = json.loads(value)["id"]
    return event_id
