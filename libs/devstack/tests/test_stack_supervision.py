"""The local stack keeps going: a dead service is restarted with backoff (and said so)
while everything else keeps running; a port a stopped server leaves in TIME_WAIT is
free at once; an exported address from a previous `make run` that points at nothing
fails the next run at once, with the cause."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msp_devstack import stack
from msp_devstack.processes import (
    StartupError,
    free_port,
    port_is_free,
    spawn,
    stop_process_group,
)
from msp_devstack.stack import _Started, _supervise, check_configured_server


def test_a_dead_service_is_restarted_with_backoff_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "RESTART_BACKOFF_S", (0.1, 0.3))
    logs = tmp_path / "logs"
    spawned: list[int] = []

    def crashing() -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], logs / "flaky.log"
        )
        spawned.append(proc.pid)
        return proc

    steady = spawn([sys.executable, "-c", "import time; time.sleep(120)"], logs / "steady.log")
    services = {
        "flaky": _Started(crashing(), 0, respawn=crashing),
        "steady": _Started(steady, 0),
    }
    deadline = time.monotonic() + 30
    try:
        _supervise(
            services, tmp_path, until=lambda: len(spawned) >= 3 or time.monotonic() > deadline
        )
        assert len(spawned) >= 3, "the dead service was not restarted"
        assert steady.poll() is None, "a healthy service was stopped with the dead one"
    finally:
        stop_process_group(services["flaky"].proc, "flaky", timeout=5)
        stop_process_group(steady, "steady", timeout=5)
    out = capsys.readouterr().out
    assert "service flaky exited with code 3; restarting it in 0 s (restart 1)" in out
    assert "restarting it in 0 s (restart 2)" in out  # 0.3 s, shown in whole seconds
    assert "restarted service flaky" in out and "boom" in out  # the log tail is shown


def test_a_port_in_time_wait_is_free_at_once() -> None:
    """The server closes first, so its side of the connection lingers in TIME_WAIT (a
    minute on Linux): without SO_REUSEADDR the probe said "busy" until then."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server side closes first: TIME_WAIT on `port`
        client.close()
    assert port_is_free(port)


def test_a_stale_exported_address_names_the_variable_and_the_fix() -> None:
    dead = free_port()
    with pytest.raises(StartupError, match=r"unset DATABASE_URL") as caught:
        check_configured_server("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{dead}/postgres")
    assert f"127.0.0.1:{dead}, where nothing is listening" in str(caught.value)
    with pytest.raises(StartupError, match=r"unset KAFKA_BOOTSTRAP_SERVERS"):
        check_configured_server("KAFKA_BOOTSTRAP_SERVERS", f"localhost:{dead}")


def test_make_runs_own_addresses_are_called_a_stale_export_when_nothing_answers() -> None:
    if not port_is_free(stack.DEFAULT_KAFKA_PORT):
        pytest.skip(f"port {stack.DEFAULT_KAFKA_PORT} is in use here (a `make run` is up)")
    with pytest.raises(StartupError, match=r"stale export from a previous `make run`"):
        check_configured_server("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{stack.DEFAULT_KAFKA_PORT}")


def test_a_server_that_answers_or_a_remote_one_passes() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_configured_server("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    check_configured_server("DATABASE_URL", "postgresql://app@db.internal.example:5432/msp")


def test_run_with_a_stale_environment_exits_non_zero_at_once(tmp_path: Path) -> None:
    dead = free_port()
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead}",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/postgres",
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "msp_devstack", "run", "--no-simulate", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - began
    assert result.returncode == 1, result.stderr
    assert "unset KAFKA_BOOTSTRAP_SERVERS" in result.stderr, result.stderr
    print(f"stale environment reported in {took:.1f} s")
