"""`python -m msp_devstack run` end to end, unattended, as the README runs it: starts its
own Kafka and Postgres, creates the topics, migrates, starts the four services, reports
ready, plays the simulated month (default scale: 30 customers), prints the summary,
keeps the services answering, and on SIGINT stops everything and exits 0."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from msp_devstack.__main__ import main
from msp_devstack.access import metrics_headers
from msp_devstack.paths import repo_root
from msp_devstack.processes import free_port, port_is_free
from msp_devstack.stack import (
    READY_LINE,
    SERVICE_SCHEMAS,
    SERVICES,
    SIMULATED_LINE,
    SIMULATION_FAILED_LINE,
)
from msp_devstack.testkit import wait_for
from msp_events.topics import TOPICS

pytestmark = pytest.mark.integration


def _mentions(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(path) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _free_port_run(length: int) -> int:
    """The first of `length` consecutive free ports."""
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        if all(port_is_free(base + i) for i in range(length)):
            return base
    raise AssertionError(f"no {length} consecutive free ports found")


def _start_run(
    data_dir: Path,
    kafka_port: int,
    postgres_port: int,
    http_base: int,
    stderr_path: Path,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    # Without the overrides, so the command starts its own Kafka and Postgres.
    env = {
        k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    }
    with stderr_path.open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "msp_devstack",
                "run",
                "--data-dir",
                str(data_dir),
                "--kafka-port",
                str(kafka_port),
                "--postgres-port",
                str(postgres_port),
                "--http-base-port",
                str(http_base),
                *extra,
            ],
            cwd=repo_root(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _lines_between(lines: list[str], first: str, last: str) -> str:
    text = "".join(lines)
    return text[text.index(first) : text.index(last)]


def test_bad_flags_are_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, field in (
        (["run", "--month", "2026-13"], "--month"),
        (["run", "--customers", "3"], "--customers"),
        (["run", "--seed", "x"], "--seed"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert field in capsys.readouterr().err


@pytest.mark.timeout(900)  # starts Kafka, Postgres, four services and plays a month
async def test_run_simulates_a_month_then_serves_and_stops_cleanly_on_sigint(
    tmp_path: Path, server_data_dir: Path
) -> None:
    data_dir = server_data_dir / "run-data"
    kafka_port, postgres_port = free_port(), free_port()
    http_base = _free_port_run(len(SERVICES))
    stderr_path = tmp_path / "run.stderr"
    proc = _start_run(data_dir, kafka_port, postgres_port, http_base, stderr_path)
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: READY_LINE in [line.strip() for line in lines] or proc.poll() is not None,
            timeout=240,
            message=lambda: f"the ready line; stderr:\n{stderr_path.read_text()}",
        )
        assert proc.poll() is None, f"run exited early:\n{stderr_path.read_text()}"
        status = "".join(lines)
        assert f"127.0.0.1:{kafka_port}" in status
        assert f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres" in status

        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{kafka_port}")
        await admin.start()
        try:
            assert {t.name for t in TOPICS} <= set(await admin.list_topics())
        finally:
            await admin.close()
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres")
        try:
            schemas = {r["nspname"] for r in await conn.fetch("select nspname from pg_namespace")}
        finally:
            await conn.close()
        assert {schema for schema, _ in SERVICE_SCHEMAS} <= schemas

        # Every service is up and serving its health endpoint (the stack waited for it).
        async with httpx.AsyncClient(timeout=5) as client:
            for offset, service in enumerate(SERVICES):
                url = f"http://127.0.0.1:{http_base + offset}"
                assert f"{service.name:<10} {url}" in status
                assert (await client.get(f"{url}/healthz")).status_code == 200, service.name

        # The simulation runs unattended to its summary.
        done = {SIMULATED_LINE, SIMULATION_FAILED_LINE}
        wait_for(
            lambda: done & {line.strip() for line in lines} or proc.poll() is not None,
            timeout=420,
            message=lambda: f"the summary; stdout:\n{''.join(lines)[-3000:]}",
        )
        assert SIMULATED_LINE in [line.strip() for line in lines], (
            f"{''.join(lines)[-3000:]}\nstderr:\n{stderr_path.read_text()[-5000:]}"
        )
        progress = _lines_between(lines, "Simulating 2026-03", "SIMULATED MONTH")
        assert "30 customers" in progress
        assert "2026-03-15" in progress and "2026-03-31" in progress  # a line per day
        summary = _lines_between(lines, "SIMULATED MONTH 2026-03", SIMULATED_LINE)
        storm = [line for line in summary.splitlines() if line.startswith("  storm: ")]
        assert len(storm) == 1, summary  # the site's 14 alerts became ONE incident ...
        assert "cust-004" in storm[0] and "14 alert(s)" in storm[0], storm
        assert "ticket None" not in storm[0], storm  # ... with one proactive ticket
        assert any(line.startswith("  flapping: cust-001") for line in summary.splitlines()), (
            summary
        )
        assert "  cust-007: 5.00 h on cust-007-CREEP" in summary  # scope creep, held
        assert "Invoices (30 issued)" in summary
        # notify's emails, caught by the local SMTP sink, counted per kind
        (sent,) = [line for line in summary.splitlines() if line.startswith("Notifications sent")]
        assert "sla_breach" in sent and "sla_warning" in sent, sent
        for kind in ("flat_fee", "on_demand", "project", "warranty", "total"):
            assert f"\n  {kind} " in summary, kind
        margin = [line for line in summary.splitlines() if " margin " in line]
        assert len(margin) == 30 and all(" cost " in line for line in margin), summary
        sla_lines = [line for line in summary.splitlines() if " met " in line and "cust-" in line]
        assert len(sla_lines) == 30, summary

        # The services keep answering, with their metrics, until Ctrl-C.
        async with httpx.AsyncClient(timeout=5) as client:
            for offset, service in enumerate(SERVICES):
                url = f"http://127.0.0.1:{http_base + offset}"
                assert (await client.get(f"{url}/healthz")).status_code == 200, service.name
                assert (
                    "msp_" in (await client.get(f"{url}/metrics", headers=metrics_headers())).text
                ), service.name
        assert proc.poll() is None

        children = psutil.Process(proc.pid).children(recursive=True)
        assert _mentions(data_dir), "the broker and postmaster run from the data dir"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, stderr_path.read_text()
        wait_for(
            lambda: not [c for c in children if c.is_running()] and not _mentions(data_dir),
            timeout=10,
            message=lambda: f"no process left from the run: {_mentions(data_dir)}",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
