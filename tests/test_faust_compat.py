"""faust-streaming (used by the incidents service) against the pinned broker: a worker
with an agent, a changelog-backed table and a producer, with no protocol errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from msp_devstack.testkit import produce, read_topic, wait_for_async
from msp_events.topics import Topic
from msp_plumbing.kafka_admin import ensure_topics

pytestmark = pytest.mark.integration
APP = Path(__file__).parent / "faust_smoke_app.py"


async def test_faust_worker_round_trip(
    kafka_bootstrap: str, namespace: str, tmp_path: Path
) -> None:
    topics = [Topic(n, "faust smoke", (), (), ()) for n in ("smoke.in", "smoke.out")]
    await ensure_topics(kafka_bootstrap, topics, namespace=namespace)
    log = tmp_path / "faust.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SMOKE_NAMESPACE": namespace,
        "SMOKE_DATADIR": str(tmp_path / "data"),
        "PYTHONPATH": str(APP.parent),
    }
    with log.open("wb") as sink:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "faust",
            "-A",
            "faust_smoke_app",
            "worker",
            "-l",
            "info",
            "--without-web",
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        await produce(
            kafka_bootstrap,
            f"{namespace}smoke.in",
            raw=[(b"k%d" % (i % 5), b"v%d" % i) for i in range(20)],
        )

        async def forwarded() -> bool:
            return len(await read_topic(kafka_bootstrap, f"{namespace}smoke.out")) == 20

        await wait_for_async(forwarded, timeout=90, message=lambda: log.read_text()[-3000:])
        changelog = f"{namespace}faust-smoke-seen-changelog"

        async def table_persisted() -> bool:
            try:
                return len(await read_topic(kafka_bootstrap, changelog, within=5)) > 0
            except AssertionError:
                return False

        await wait_for_async(table_persisted, timeout=60, message="table changelog records")
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 60)
    out = await read_topic(kafka_bootstrap, f"{namespace}smoke.out")
    assert sorted(r.value for r in out) == sorted(b"v%d!" % i for i in range(20))
    text = log.read_text()
    for problem in ("UnsupportedVersion", "UnsupportedForMessageFormat", "Traceback"):
        assert problem not in text, f"faust logged {problem}:\n{text[-3000:]}"
