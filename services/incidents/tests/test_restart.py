"""Crash safety of the whole service (`python -m incidents`) on the real broker and
Postgres: SIGKILLed mid-stream right after a batch committed (state, offsets and outputs
in Postgres, the Kafka offset mirror not yet written), and a Postgres restart while
alerts flow. Afterwards every alert on the input topic is triaged (one triage-log row
each), the lag reads 0 only then, every output reaches Kafka (the outbox drains without
a restart), downstream sees no id twice, and the alert counters count each alert once."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from incidents_factory import contract, firing, t
from incidents_harness import prepare

from msp_devstack.access import metrics_headers
from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import StartupError
from msp_devstack.testing import new_namespace, server_scratch_dir
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import Envelope, decode

pytestmark = pytest.mark.integration

CUSTOMERS = [f"restart-{i}" for i in range(4)]
SITES = 3  # per customer: one incident per site


def alerts(devices: range, run: str = "") -> list[Envelope]:
    return [
        firing(c, f"{c}-s{s}-d{d}{run}", t(d), device=f"{c}-s{s}-d{d}", site=f"{c}-s{s}")
        for d in devices
        for c in CUSTOMERS
        for s in range(SITES)
    ]


def env(kafka: str, db: str, ns: str, crash: str | None) -> dict[str, str]:
    return service_env(
        kafka=kafka,
        database_url=db,
        schema=ns.strip("_"),
        namespace=ns,
        crash=crash,
        MSP_WALL_CLOCK_TICK_S="0",
        MSP_CONSUMER_BATCH_SIZE="10",
    )


async def start(environ: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "incidents", env=environ, stdout=sink, stderr=sink
        )


async def stop(proc: asyncio.subprocess.Process, log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    rc = await asyncio.wait_for(proc.wait(), 60)
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    assert rc in (0, -signal.SIGTERM), tail(log)


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


def problems(log: Path, counts: dict[str, int]) -> str:
    keep = ('"WARNING"', '"ERROR"', "Traceback", "assigned")
    bad = [x[:400] for x in log.read_text().splitlines() if any(k in x for k in keep)]
    return f"{counts}\n" + "\n".join(bad[-60:])


async def triaged(db: asyncpg.Connection, counts: dict[str, int]) -> dict[str, int]:
    for name, sql in (
        ("triaged", "SELECT count(*) FROM triage_log"),
        ("incidents", "SELECT count(*) FROM incidents"),
        ("attached", "SELECT count(*) FROM incident_alerts"),
        ("unsent", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
    ):
        counts[name] = int(await db.fetchval(sql))
    return counts


async def assert_no_id_twice(kafka: str, ns: str) -> None:
    for topic in ("msp.tickets.v1", "msp.incidents.v1"):
        records = await read_topic(kafka, f"{ns}{topic}")
        ids = Counter(decode(r.value).id for r in records)
        assert ids and max(ids.values()) == 1, f"{topic}: an id reached Kafka twice"


def triage_lag(metrics: str, ns: str) -> int:
    pattern = rf'msp_consumer_lag_records{{group="{ns}incidents.triage",[^}}]*}} (\S+)'
    return int(sum(float(v) for v in re.findall(pattern, metrics)))


async def test_sigkill_after_a_commit_loses_no_alert_and_duplicates_no_id(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    ns = new_namespace()
    await prepare(kafka_bootstrap, database_url, ns)
    await produce(kafka_bootstrap, f"{ns}msp.contracts.v1", [contract(c) for c in CUSTOMERS])
    sent = alerts(range(10))
    await produce(kafka_bootstrap, f"{ns}msp.monitoring.v1", sent)
    log = tmp_path / "service.log"

    crashing = await start(env(kafka_bootstrap, database_url, ns, "consumer.after_commit:4"), log)
    rc = await asyncio.wait_for(crashing.wait(), 120)
    assert rc == -signal.SIGKILL, f"the service should have crashed:\n{tail(log)}"

    db = await asyncpg.connect(database_url, server_settings={"search_path": ns.strip("_")})
    environ = env(kafka_bootstrap, database_url, ns, None)
    port = environ["MSP_HTTP_PORT"]
    healthy = await start(environ, log)
    want = {"triaged": len(sent), "incidents": len(CUSTOMERS) * SITES, "attached": len(sent)}
    try:
        counts: dict[str, int] = {}

        async def done() -> bool:
            await triaged(db, counts)
            return counts == {**want, "unsent": 0}

        await wait_for_async(done, timeout=120, message=lambda: problems(log, counts))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            # lag 0 once everything is triaged (exported every 5 s when idle)
            await wait_for_async(
                lambda: _lag(http, ns, 0), timeout=30, message="triage lag 0 on /metrics"
            )
    finally:
        await stop(healthy, log)
        await db.close()
    await assert_no_id_twice(kafka_bootstrap, ns)
    tickets = [decode(r.value) for r in await read_topic(kafka_bootstrap, f"{ns}msp.tickets.v1")]
    created = Counter(e.data.incident_id for e in tickets if e.type == "msp.ticket.created.v1")
    assert len(created) == want["incidents"] and set(created.values()) == {1}


async def _lag(http: httpx.AsyncClient, ns: str, want: int) -> bool:
    text = (await http.get("/metrics", headers=metrics_headers())).text
    return f'group="{ns}incidents.triage"' in text and triage_lag(text, ns) == want


async def _ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _some_triaged(db: asyncpg.Connection, counts: dict[str, int]) -> bool:
    return (await triaged(db, counts))["triaged"] > 0


async def _started(postgres: LocalPostgres) -> bool:
    """Start it again on the same port (the old sockets may hold it a while)."""
    try:
        await asyncio.to_thread(postgres.start)
    except StartupError:
        return False
    return True


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A Postgres of this test's own: it is restarted under the service."""
    with (
        server_scratch_dir("msp-incidents-pg-") as data_dir,
        LocalPostgres(data_dir, durable=False) as postgres,
    ):
        yield postgres


async def test_postgres_restart_while_alerts_flow_loses_no_alert(
    kafka_bootstrap: str, own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    ns = new_namespace()
    url = own_postgres.database_url
    await prepare(kafka_bootstrap, url, ns)
    await produce(kafka_bootstrap, f"{ns}msp.contracts.v1", [contract(c) for c in CUSTOMERS])
    log = tmp_path / "service.log"
    environ = env(kafka_bootstrap, url, ns, None)
    service = await start(environ, log)
    topic = f"{ns}msp.monitoring.v1"
    sent: list[Envelope] = []
    counts: dict[str, int] = {}
    db = await asyncpg.connect(url, server_settings={"search_path": ns.strip("_")})
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{environ['MSP_HTTP_PORT']}"
        ) as http:
            await wait_for_async(lambda: _ready(http), timeout=120, message="incidents ready")
        sent += alerts(range(0, 5))
        await produce(kafka_bootstrap, topic, sent)
        await wait_for_async(
            lambda: _some_triaged(db, counts), timeout=120, message=lambda: problems(log, counts)
        )
        await db.close()
        # while alerts flow: more on the topic, Postgres fast-shut-down, more during the
        # outage, Postgres back on the same port, more after
        wave = alerts(range(5, 10))
        await produce(kafka_bootstrap, topic, wave)
        await asyncio.to_thread(own_postgres.stop)
        during = alerts(range(10, 15))
        await produce(kafka_bootstrap, topic, during)
        await asyncio.sleep(3)  # the outage itself: nothing to wait for
        await wait_for_async(
            lambda: _started(own_postgres),
            timeout=120,
            interval=1,
            message="Postgres back on its port",
        )
        after = alerts(range(15, 20))
        await produce(kafka_bootstrap, topic, after)
        sent += wave + during + after
        db = await asyncpg.connect(url, server_settings={"search_path": ns.strip("_")})

        async def done() -> bool:
            return (await triaged(db, counts))["triaged"] == len(sent)

        await wait_for_async(done, timeout=180, message=lambda: problems(log, counts))
        per_alert = await db.fetchval("SELECT count(DISTINCT event_id) FROM triage_log")
        assert per_alert == len(sent) == len({e.id for e in sent})

        async def relayed() -> bool:  # the relay recovered without a restart
            return (await triaged(db, counts))["unsent"] == 0

        await wait_for_async(relayed, timeout=120, message=lambda: problems(log, counts))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{environ['MSP_HTTP_PORT']}"
        ) as http:
            await wait_for_async(
                lambda: _lag(http, ns, 0), timeout=30, message="triage lag 0 on /metrics"
            )
            text = (await http.get("/metrics", headers=metrics_headers())).text
    finally:
        await db.close()
        await stop(service, log)
    await assert_no_id_twice(kafka_bootstrap, ns)
    # batches retried across the outage are counted once (after their commit)
    assert alerts_counted(text) == len(sent), problems(log, counts)


def alerts_counted(metrics: str) -> int:
    """Alerts counted by their outcome, "pending" aside (an alert that came before its
    contract is counted pending, then with its outcome once the contract came)."""
    pattern = r'^msp_incidents_alerts_total\{outcome="([^"]*)"\} (\S+)$'
    found = re.findall(pattern, metrics, re.MULTILINE)
    return int(sum(float(v) for outcome, v in found if outcome != "pending"))
