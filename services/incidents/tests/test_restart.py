"""Crash safety: the whole service (`python -m incidents`) is SIGKILLed mid-stream,
right after a batch's outputs were committed but before the Faust table changelog and
offsets caught up. After a restart no incident is lost and downstream sees no id twice:
every raw record on the tickets and incidents topics is distinct, and each incident has
exactly one proactive ticket."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
from conftest import prepare
from factory import contract, firing, t

from msp_devstack.testing import new_namespace
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events import decode

pytestmark = pytest.mark.integration

CUSTOMERS = [f"restart-{i}" for i in range(4)]
SITES = 3  # per customer: one incident per site


def env(kafka: str, db: str, ns: str, datadir: Path, crash: str | None) -> dict[str, str]:
    return service_env(
        kafka=kafka,
        database_url=db,
        schema=ns.strip("_"),
        namespace=ns,
        crash=crash,
        MSP_WALL_CLOCK_TICK_S="0",
        MSP_FAUST_BATCH_MAX="10",
        MSP_FAUST_DATADIR=str(datadir),
        MSP_FAUST_SESSION_TIMEOUT_S="6",
    )


async def start(environ: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "incidents", env=environ, stdout=sink, stderr=sink
        )


async def test_restart_mid_stream_loses_no_incident_and_duplicates_no_id(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    ns = new_namespace()
    await prepare(kafka_bootstrap, database_url, ns)
    await produce(kafka_bootstrap, f"{ns}msp.contracts.v1", [contract(c) for c in CUSTOMERS])
    alerts = [
        firing(c, f"{c}-s{s}-d{d}", t(d), device=f"{c}-s{s}-d{d}", site=f"{c}-s{s}")
        for d in range(10)
        for c in CUSTOMERS
        for s in range(SITES)
    ]
    await produce(kafka_bootstrap, f"{ns}msp.monitoring.v1", alerts)
    log = tmp_path / "service.log"

    crashing = await start(
        env(kafka_bootstrap, database_url, ns, tmp_path / "f1", "incidents.after_sink:4"), log
    )
    rc = await asyncio.wait_for(crashing.wait(), 120)
    assert rc == -signal.SIGKILL, f"the service should have crashed:\n{log.read_text()[-3000:]}"

    db = await asyncpg.connect(database_url, server_settings={"search_path": ns.strip("_")})
    healthy = await start(env(kafka_bootstrap, database_url, ns, tmp_path / "f2", None), log)
    want = len(CUSTOMERS) * SITES
    try:
        counts: dict[str, int] = {}

        async def done() -> bool:
            for name, sql in (
                ("incidents", "SELECT count(*) FROM incidents"),
                ("attached", "SELECT count(*) FROM incident_alerts"),
                ("unsent", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
            ):
                counts[name] = int(await db.fetchval(sql))
            return counts == {"incidents": want, "attached": len(alerts), "unsent": 0}

        def problems() -> str:
            lines = log.read_text().splitlines()
            keep = ('"WARNING"', '"ERROR"', "Traceback", "triaged a batch", "Recovery", "assigned")
            bad = [x[:400] for x in lines if any(k in x for k in keep)]
            return f"{counts}\n" + "\n".join(bad[-80:])

        await wait_for_async(done, timeout=120, message=problems)
    finally:
        healthy.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(healthy.wait(), 60)
        await db.close()
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    assert rc in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()

    for topic in ("msp.tickets.v1", "msp.incidents.v1"):
        records = await read_topic(kafka_bootstrap, f"{ns}{topic}")
        ids = Counter(decode(r.value).id for r in records)
        assert ids and max(ids.values()) == 1, f"{topic}: an id reached Kafka twice"
    changelog = await read_topic(kafka_bootstrap, f"{ns}incidents-triage-changelog")
    assert {r.key.decode() for r in changelog} == set(CUSTOMERS), "state is changelog-backed"
    tickets = [decode(r.value) for r in await read_topic(kafka_bootstrap, f"{ns}msp.tickets.v1")]
    created = Counter(e.data.incident_id for e in tickets if e.type == "msp.ticket.created.v1")
    assert len(created) == want and set(created.values()) == {1}
