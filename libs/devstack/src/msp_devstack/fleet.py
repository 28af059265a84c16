"""The five services as child processes on one broker and one database: what the
end-to-end tests, the dashboard test and the simulator's tests run against.

Each fleet gets its own topic namespace and its own Postgres schemas
(`<namespace><schema>`), so several fleets can share a broker and a database. A
service can be stopped, started and restarted on its own; its HTTP port stays the same
across restarts so URLs held by a test keep working.
"""

from __future__ import annotations

import logging
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from msp_access.roles import OPERATOR_ROLES
from msp_devstack.access import bearer
from msp_devstack.processes import (
    StartupError,
    free_port,
    log_tail,
    run_sync,
    spawn,
    stop_process_group,
)
from msp_devstack.stack import SERVICE_SCHEMAS, SERVICES, ServiceProcess
from msp_devstack.testkit import service_env

log = logging.getLogger("msp_devstack.fleet")

EVENT_TIME_SETTINGS: Mapping[str, Mapping[str, str]] = {
    # Replays and simulations run a month of event time in a minute: every clock must
    # follow event time, never the wall clock of the machine.
    "incidents": {"MSP_WALL_CLOCK_TICK_S": "0"},
    "sla-clock": {"MSP_SCHEDULER_CLOCK": "event_time"},
    # a simulated month may lie ahead of the machine's clock (up to a year)
    "ingest": {"MSP_EVENT_TIME_MAX_FUTURE_S": str(366 * 86400)},
}
"""Per-service settings that make a service follow event time only."""


@dataclass
class _Member:
    service: ServiceProcess
    schema: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Fleet:
    """The services of `msp_devstack.stack.SERVICES` on `kafka` + `database_url`,
    with every registry topic created under `namespace`.

    `settings` maps a service name (e.g. "sla-clock") to extra `MSP_*` environment
    variables; `event_time=True` adds `EVENT_TIME_SETTINGS`. Use as a context manager,
    or call `start()` / `close()`."""

    kafka: str
    database_url: str
    namespace: str
    data_dir: Path
    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    event_time: bool = True
    start_timeout_s: float = 120.0
    _members: dict[str, _Member] = field(default_factory=dict, init=False)
    _smtp_sink: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _notify_env: dict[str, str] = field(default_factory=dict, init=False)
    _operator_key: str | None = field(default=None, init=False)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Fleet:
        self.create_topics()
        self.migrate()
        self._start_smtp_sink()
        for service in SERVICES:
            self._members[service.name] = self._member(service)
        for name in self._members:
            self._spawn(name)
        for name in self._members:
            self.wait_healthy(name)
        return self

    def close(self) -> None:
        for name in reversed(list(self._members)):
            self.stop(name)
        if self._smtp_sink is not None:
            stop_process_group(self._smtp_sink, "smtp sink", timeout=10)
            self._smtp_sink = None

    @property
    def mail_dir(self) -> Path:
        """Where the fleet's SMTP sink keeps what notify sent (one .eml per message)."""
        return self.data_dir / "mail"

    def _start_smtp_sink(self) -> None:
        """notify sends email to a local SMTP sink, as in `make run`."""
        from msp_devstack.stack import notify_settings, spawn_smtp_sink

        port = free_port()
        self._smtp_sink = spawn_smtp_sink(port, self.data_dir)
        self._notify_env = notify_settings(port)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stop(self, name: str, *, timeout: float = 30.0) -> None:
        """SIGTERM `name` (a clean stop), SIGKILL after `timeout` s."""
        member = self._members[name]
        if member.proc is not None:
            stop_process_group(member.proc, f"service {name}", timeout=timeout)
            member.proc = None

    def kill(self, name: str) -> None:
        """SIGKILL `name`: a crash, nothing flushed."""
        import signal

        member = self._members[name]
        if member.proc is not None:
            stop_process_group(member.proc, f"service {name}", sig=signal.SIGKILL, timeout=10)
            member.proc = None

    def start_service(self, name: str) -> None:
        self._spawn(name)
        self.wait_healthy(name)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start_service(name)

    # -- what tests use -----------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [s.name for s in SERVICES]

    def url(self, name: str) -> str:
        """Base URL of `name`'s HTTP API, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self._members[name].port}"

    def schema(self, name: str) -> str:
        """The Postgres schema `name` keeps its state in."""
        return self._members[name].schema

    def env(self, name: str) -> dict[str, str]:
        """The environment `name` runs with (for a CLI that must match it, e.g. ingest.keys)."""
        return dict(self._members[name].env)

    def topic(self, registry_name: str) -> str:
        return f"{self.namespace}{registry_name}"

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The process id `name` runs as (None while stopped): a test that must show a
        service was not restarted compares it before and after."""
        proc = self._members[name].proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self, name: str) -> bool:
        proc = self._members[name].proc
        return proc is not None and proc.poll() is None

    def create_api_key(
        self, *, source: str, customers: Sequence[str], extra: Sequence[str] = ()
    ) -> str:
        """A fresh API key for `source` bound to `customers` (every customer when empty),
        role publisher unless `extra` names roles (`--role billing`); made with the
        `msp_access.keys` CLI in this fleet's access schema."""
        from msp_simulator.keys import create_key

        return create_key(source=source, customers=customers, env=self.env("ingest"), extra=extra)

    @property
    def operator_key(self) -> str:
        """An operator credential for this fleet (every staff role, every customer),
        made once: what tests send to the services' APIs and /metrics."""
        if self._operator_key is None:
            roles = [a for r in OPERATOR_ROLES for a in ("--role", r)]
            self._operator_key = self.create_api_key(
                source="fleet-operator", customers=(), extra=roles
            )
        return self._operator_key

    def operator_headers(self) -> dict[str, str]:
        return bearer(self.operator_key)

    # -- internals ----------------------------------------------------------------
    def create_topics(self) -> None:
        """Every registry topic under this fleet's namespace (idempotent)."""
        from msp_events.topics import TOPICS
        from msp_plumbing.kafka_admin import ensure_topics

        run_sync(lambda: ensure_topics(self.kafka, TOPICS, namespace=self.namespace))

    def migrate(self) -> None:
        from msp_plumbing.migrations import migrate

        for schema, package in SERVICE_SCHEMAS:
            target = f"{self.namespace}{schema}"

            async def one(target: str = target, package: str = package) -> list[str]:
                return await migrate(self.database_url, schema=target, package=package)

            run_sync(one)

    def _member(self, service: ServiceProcess) -> _Member:
        schema_of = dict((package, schema) for schema, package in SERVICE_SCHEMAS)
        schema = f"{self.namespace}{schema_of[service.package]}"
        extra: dict[str, str] = {}
        if service.name == "notify":
            extra.update(self._notify_env)
        if self.event_time:
            extra.update(EVENT_TIME_SETTINGS.get(service.name, {}))
        extra.update(self.settings.get(service.name, {}))
        env = service_env(
            kafka=self.kafka,
            database_url=self.database_url,
            schema=schema,
            namespace=self.namespace,
            **{**service.env, **extra},
        )
        port = free_port()
        env["MSP_HTTP_PORT"] = str(port)
        return _Member(service=service, schema=schema, port=port, env=env)

    def _spawn(self, name: str) -> None:
        member = self._members[name]
        if member.proc is not None and member.proc.poll() is None:
            return
        member.proc = spawn(member.service.argv(), self.log_path(name), env=member.env)
        log.info("started %s (pid %d, port %d)", name, member.proc.pid, member.port)

    def wait_healthy(self, name: str) -> None:
        member = self._members[name]
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if member.proc is None or member.proc.poll() is not None:
                code = None if member.proc is None else member.proc.returncode
                raise StartupError(
                    f"service {name} exited with code {code} while starting:\n"
                    f"{log_tail(self.log_path(name))}"
                )
            if _ready(member.port):
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"service {name} did not answer /readyz within {self.start_timeout_s:.0f} "
                    f"s:\n{log_tail(self.log_path(name))}"
                )
            time.sleep(0.2)  # poll tick while the service starts


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
