"""Crash tests: a worker process is SIGKILLed between the steps
consume -> state commit -> relay -> mark sent. After a restart, every input was
applied exactly once and every output is on Kafka exactly once — counting raw
records on the topic, not distinct ids."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import Envelope, decode_record
from msp_events.serde import HEADERS

pytestmark = pytest.mark.integration

WORKER = Path(__file__).parent / "crash_worker.py"
N = 30


def worker_env(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    out: str,
    crash: str | None,
) -> dict[str, str]:
    return service_env(
        kafka=kafka_bootstrap,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        crash=crash,
        MSP_SERVICE_NAME="crashworker",
        MSP_CONSUMER_BATCH_SIZE="5",
        CRASH_OUT_TOPIC=out,
    )


async def start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), env=env, stdout=sink, stderr=sink
        )


async def count(db: asyncpg.Connection, sql: str) -> int:
    value = await db.fetchval(sql)
    return int(value)


@pytest.mark.parametrize(
    "crash_point",
    [
        "consumer.before_commit:2",  # killed between consume and commit
        "consumer.after_commit:2",  # killed between state commit and relay
        "relay.after_send:1",  # killed after Kafka acked, before marking sent
    ],
)
async def test_crash_then_restart_loses_and_duplicates_nothing(
    crash_point: str,
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    db: asyncpg.Connection,
    topics: dict[str, str],
    make_tickets: Callable[..., list[Envelope]],
    tmp_path: Path,
) -> None:
    inputs = make_tickets(N)
    await produce(kafka_bootstrap, topics["in"], inputs)
    log = tmp_path / "worker.log"

    crashing = await start_worker(
        worker_env(kafka_bootstrap, database_url, namespace, schema, topics["out"], crash_point),
        log,
    )
    rc = await asyncio.wait_for(crashing.wait(), 90)
    assert rc == -signal.SIGKILL, f"worker should have crashed at {crash_point}:\n{log.read_text()}"

    seen_at_crash = await count(db, "SELECT count(*) FROM seen")
    out_at_crash = len(await read_topic(kafka_bootstrap, topics["out"]))
    assert seen_at_crash < N, "the crash came before all input was applied"
    if crash_point.startswith("relay.after_send"):
        unsent = await count(db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        assert out_at_crash > 0 and unsent > 0, "records on Kafka but not yet marked sent"
    if crash_point.startswith("consumer.after_commit"):
        assert seen_at_crash > 0 and out_at_crash < seen_at_crash

    healthy = await start_worker(
        worker_env(kafka_bootstrap, database_url, namespace, schema, topics["out"], None), log
    )
    try:

        async def done() -> bool:
            seen = await count(db, "SELECT count(*) FROM seen")
            unsent = await count(db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            return seen == N and unsent == 0

        await wait_for_async(done, timeout=90, message="all input applied and all output relayed")
    finally:
        healthy.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(healthy.wait(), 30) == 0, log.read_text()

    records = await read_topic(kafka_bootstrap, topics["out"])
    ids = Counter(decode_record(r.key, r.value).id for r in records)
    assert len(records) == N, f"expected {N} outputs on Kafka, found {len(records)}"
    assert len(ids) == N and max(ids.values()) == 1, "an output was published twice"
    # recovery needs no bookkeeping header: consumers see only the content type
    assert {tuple(r.headers) for r in records} == {tuple(HEADERS)}
    applied = await count(db, "SELECT count(*) FROM processed_events")
    assert applied == N
