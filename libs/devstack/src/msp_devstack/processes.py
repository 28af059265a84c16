"""Child-process plumbing shared by the local Kafka and Postgres: ports, deadlines,
process groups, log tails, and running a coroutine from synchronous code."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("msp_devstack")

LOOPBACK = "127.0.0.1"


class StartupError(RuntimeError):
    """A local server failed to start; the message names the cause and shows its log."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could listen on `port` now. With SO_REUSEADDR, as servers
    (Postgres, Kafka, uvicorn) bind: connections of a stopped server lingering in
    TIME_WAIT do not make its port look busy for a minute."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) or "    (log is empty)"


def _death_signal_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """On Linux, make the child receive `sig` when this process dies, so a killed test
    run or `run` command never leaves a broker or postmaster behind. The kernel ties
    this to the *thread* that forks, so only do it from the main thread."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return preexec


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    death_signal: signal.Signals = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group (Ctrl-C in the terminal does not reach it;
    the owner stops it in order), with stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    gid = pwd.getpwnam(user).pw_gid if user is not None else None
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=gid,
            extra_groups=[] if user is not None else None,
            preexec_fn=_death_signal_preexec(death_signal),
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(
    proc: subprocess.Popen[bytes],
    name: str,
    *,
    sig: signal.Signals | None = signal.SIGTERM,
    timeout: float = 30.0,
) -> None:
    """Send `sig` to the process group led by `proc` (None: the caller already asked it
    to stop), wait up to `timeout` s for the leader and the group to go, then SIGKILL."""
    pgid = proc.pid
    if proc.poll() is None and sig is not None:
        log.info("stopping %s (pid %d, %s)", name, proc.pid, sig.name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s (pid %d) did not stop within %.0f s: killing it", name, pgid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 5.0
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            log.warning("killing leftover processes of %s (process group %d)", name, pgid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            break
        time.sleep(0.05)
    log.info("%s stopped (exit code %s)", name, proc.returncode)


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, on a fresh event loop in a
    helper thread, so it works whether or not the caller already runs a loop (pytest
    fixtures, the `run` command) and never replaces the caller's current loop."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="msp-devstack-run-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
