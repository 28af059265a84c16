"""`python -m msp_devstack run`: the whole system on one machine.

Order: Postgres and Kafka (unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point at
running servers), every registry topic, every service schema's migrations, then the
service processes in `SERVICES`. A status block is printed, then the command waits for
Ctrl-C (SIGINT) or SIGTERM and stops what it started in reverse order: services first,
infrastructure last. Exit code 0 on a requested stop, 1 if anything failed to start.
A service that exits while the stack is up is restarted with backoff
(`RESTART_BACKOFF_S`, reported on stdout); nothing else is stopped. An exported
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL naming this machine must answer at once
(`check_configured_server`), else the run fails with the variable to unset.

With a `Simulation` (the default of the command line), once everything answers the
simulator (`msp_simulator`) plays a month through ingest, prints progress and the
summary, and the stack then stays up as before. A simulated run starts from a fresh
data dir (the previous run's Kafka and Postgres data are deleted first), so
the summary is that month's alone; with KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL the
servers are not ours to wipe, and replaying the same seed is a no-op there (every id
is derived from the seed, so the services see duplicates only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from msp_devstack.kafka import (
    KAFKA_VERSION,
    FetchError,
    LocalKafka,
    PrerequisiteError,
    fetch_kafka,
    require_java,
)
from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import (
    StartupError,
    free_port,
    log_tail,
    port_accepts,
    port_is_free,
    run_sync,
    spawn,
    stop_process_group,
)
from msp_events.topics import TOPICS
from msp_plumbing.kafka_admin import ensure_topics, wait_for_broker

log = logging.getLogger("msp_devstack.run")

DEFAULT_KAFKA_PORT = 19092
DEFAULT_POSTGRES_PORT = 15432
READY_LINE = "msp-devstack: ready"
"""Printed (and flushed) on stdout once everything is up; scripts and tests wait for it."""
SIMULATED_LINE = "msp-devstack: simulation done"
"""Printed after the simulation's summary; the stack stays up until Ctrl-C."""
SIMULATION_FAILED_LINE = "msp-devstack: simulation failed"
FRESH_SUBDIRS = ("kafka", "postgres", "logs", "mail")
"""What a simulated run deletes from its data dir before it starts."""


@dataclass(frozen=True)
class Simulation:
    """Play a simulated month once the services are up (see `msp_simulator`)."""

    seed: int = 1
    month: str | None = None
    """YYYY-MM; None = the simulator's default month."""
    customers: int = 30


@dataclass(frozen=True)
class ServiceProcess:
    """A service the `run` command supervises: `python -m <package>` with
    KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and MSP_HTTP_PORT in its environment; its
    output goes to <data dir>/logs/<name>.log."""

    name: str
    package: str
    default_port: int
    env: dict[str, str] = field(default_factory=dict)

    def argv(self) -> tuple[str, ...]:
        return (sys.executable, "-m", self.package)


SERVICE_SCHEMAS: tuple[tuple[str, str], ...] = (
    ("access", "msp_access"),
    ("ingest", "ingest"),
    ("incidents", "incidents"),
    ("sla_clock", "sla_clock"),
    ("billing", "billing"),
    ("notify", "notify"),
)
"""(Postgres schema, package holding `migrations/`) for every service."""

DEMO_COST_RATES = (
    '{"*": {"GBP": "38.00", "USD": "48.00", "EUR": "44.00", "JPY": "7000", "AUD": "70.00"}, '
    '"tech-cho": {"GBP": "46.00", "USD": "58.00", "EUR": "54.00", "JPY": "8500", "AUD": "85.00"}}'
)
"""The demo's technician cost rates (hourly, per currency; tech-cho is the project
engineer) behind the summary's margin per customer, unless MSP_TECHNICIAN_COST_RATES
is set."""

SERVICES: tuple[ServiceProcess, ...] = (
    ServiceProcess("ingest", "ingest", 8080),
    ServiceProcess("incidents", "incidents", 8081),
    ServiceProcess("sla-clock", "sla_clock", 8082),
    ServiceProcess("billing", "billing", 8083),
    ServiceProcess("notify", "notify", 8084),
)
"""The five services, each with its HTTP API (and /healthz, /readyz, /metrics) on
127.0.0.1:<port>; `--http-base-port N` puts them on N, N+1, ... N+4 instead."""
SERVICE_START_TIMEOUT_S = 90.0


@dataclass
class _Started:
    proc: subprocess.Popen[bytes]
    port: int
    respawn: Callable[[], subprocess.Popen[bytes]] | None = None
    restarts: int = 0
    next_start: float | None = None  # monotonic time of a scheduled restart
    running_since: float = field(default_factory=time.monotonic)


RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Waits before restarting a dead service: the n-th restart in a row waits the n-th
value (then the last). A service that ran `STABLE_AFTER_S` starts from the first."""
STABLE_AFTER_S = 60.0


class _Shutdown(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM."""


def _install_signal_handlers() -> None:
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if stopping:
            log.info("received %s again: already stopping", name)
            return
        stopping = True
        log.info("received %s: stopping", name)
        raise _Shutdown(name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _port(requested: int | None, default: int, what: str) -> int:
    """An explicitly requested port must be free; the default falls back to a free one."""
    if requested is not None:
        if not port_is_free(requested):
            raise StartupError(f"{what} port {requested} is in use; choose another port")
        return requested
    if port_is_free(default):
        return default
    chosen = free_port()
    log.warning("default %s port %d is in use: using %d instead", what, default, chosen)
    return chosen


def _migrate(database_url: str) -> dict[str, list[str]]:
    try:
        from msp_plumbing.migrations import migrate
    except ImportError as exc:
        log.warning("skipping migrations: msp_plumbing.migrations.migrate unavailable (%s)", exc)
        return {}
    applied: dict[str, list[str]] = {}
    for schema, package in SERVICE_SCHEMAS:

        async def one(schema: str = schema, package: str = package) -> list[str]:
            return await migrate(database_url, schema=schema, package=package)

        applied[schema] = run_sync(one)
        log.info("schema %s: %d migration(s) applied", schema, len(applied[schema]))
    return applied


def _status(
    kafka: str,
    kafka_source: str,
    database_url: str,
    postgres_source: str,
    created: Sequence[str],
    migrations: dict[str, list[str]],
    services: dict[str, _Started],
    data_dir: Path,
) -> str:
    rule = "=" * 78
    lines = [rule, "MSP local stack is up. Ctrl-C stops everything.", ""]
    lines.append(f"  Kafka     {kafka}  ({kafka_source})")
    lines.append(f"  Postgres  {database_url}  ({postgres_source})")
    lines.append(f"  Topics    {len(TOPICS)} ({len(created)} created now):")
    for topic in TOPICS:
        lines.append(
            f"              {topic.name:<30} {topic.partitions} partitions, {topic.cleanup_policy}"
        )
    if migrations:
        schemas = ", ".join(f"{s} (+{len(m)})" for s, m in migrations.items())
        lines.append(f"  Schemas   {schemas}")
    else:
        lines.append("  Schemas   not migrated (msp_plumbing.migrations unavailable)")
    if services:
        for name, started in services.items():
            lines.append(
                f"  Service   {name:<10} http://127.0.0.1:{started.port:<6} "
                f"pid {started.proc.pid}, log {data_dir / 'logs'}/{name}.log"
            )
    else:
        lines.append("  Services  none configured yet")
    lines += [
        "",
        "  Use them from another shell:",
        f"    export KAFKA_BOOTSTRAP_SERVERS={kafka}",
        f"    export DATABASE_URL={database_url}",
        rule,
    ]
    return "\n".join(lines)


def run(
    *,
    data_dir: Path,
    kafka_port: int | None = None,
    postgres_port: int | None = None,
    http_base_port: int | None = None,
    simulation: Simulation | None = None,
) -> int:
    _install_signal_handlers()
    data_dir = data_dir.resolve()
    if simulation is not None:
        _fresh(data_dir)
    services: dict[str, _Started] = {}
    with contextlib.ExitStack() as stack:
        try:
            stack.callback(log.info, "stopped everything this command started")
            bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            database_url = os.environ.get("DATABASE_URL")
            for name, value in (
                ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
                ("DATABASE_URL", database_url),
            ):
                if value:
                    check_configured_server(name, value)
            if not bootstrap:  # fail fast, before starting anything
                require_java()
                fetch_kafka()
            if database_url:
                postgres_source = "from DATABASE_URL"
            else:
                postgres = LocalPostgres(
                    data_dir / "postgres",
                    port=_port(postgres_port, DEFAULT_POSTGRES_PORT, "Postgres"),
                )
                stack.callback(postgres.stop)
                postgres.start()
                database_url = postgres.database_url
                postgres_source = f"local PostgreSQL, pid {postgres.pid}, log {postgres.log_path}"

            if bootstrap:
                kafka_source = "from KAFKA_BOOTSTRAP_SERVERS"
                target = bootstrap
                run_sync(lambda: wait_for_broker(target, timeout=30.0))
            else:
                port = _port(kafka_port, DEFAULT_KAFKA_PORT, "Kafka")
                controller = port + 1 if port_is_free(port + 1) else None
                kafka = LocalKafka(data_dir / "kafka", port=port, controller_port=controller)
                stack.callback(kafka.stop)
                kafka.start()
                bootstrap = kafka.bootstrap_servers
                kafka_source = f"local Kafka {KAFKA_VERSION}, pid {kafka.pid}, log {kafka.log_path}"

            kafka_target = bootstrap
            created = run_sync(lambda: ensure_topics(kafka_target, TOPICS))
            log.info("%d registry topics present (%d created now)", len(TOPICS), len(created))
            migrations = _migrate(database_url)

            env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=database_url)
            smtp_port = 0
            for offset, service in enumerate(SERVICES):
                extra = _service_settings(service.name, data_dir, simulated=simulation is not None)
                requested = None if http_base_port is None else http_base_port + offset
                port = _port(requested, service.default_port, f"{service.name} HTTP")
                if service.name == "notify":
                    # after every service port is chosen, so it never takes one of them
                    taken = {s.port for s in services.values()} | {port}
                    smtp_port = _start_smtp_sink(stack, data_dir, env, taken)
                    extra.update(notify_settings(smtp_port))

                def start(
                    service: ServiceProcess = service,
                    extra: dict[str, str] = extra,
                    port: int = port,
                ) -> subprocess.Popen[bytes]:
                    return spawn(
                        service.argv(),
                        data_dir / "logs" / f"{service.name}.log",
                        env={**env, **service.env, **extra, "MSP_HTTP_PORT": str(port)},
                    )

                proc = start()
                services[service.name] = _Started(proc, port, respawn=start)
                stack.callback(_stop_service, services[service.name], service.name)
                log.info("started service %s (pid %d, port %d)", service.name, proc.pid, port)
            _wait_until_serving(services, data_dir)

            print(
                _status(
                    bootstrap,
                    kafka_source,
                    database_url,
                    postgres_source,
                    created,
                    migrations,
                    services,
                    data_dir,
                ),
                f"  SMTP sink 127.0.0.1:{smtp_port}  (what notify sends, as files in "
                f"{data_dir / 'mail'})",
                sep="\n",
                flush=True,
            )
            print(_demo_credentials(database_url), flush=True)
            print(READY_LINE, flush=True)
            if simulation is not None:
                _simulate(simulation, services, env, mail=data_dir / "mail")
            return _supervise(services, data_dir)
        except _Shutdown:
            return 0
        except (StartupError, PrerequisiteError, FetchError) as exc:
            log.error("%s", exc)
            return 1
        except Exception:
            log.exception("the local stack failed")
            return 1
    return 1  # unreachable: the with block always returns; keeps mypy content


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def configured_address(name: str, value: str) -> tuple[str, int]:
    """(host, port) of a KAFKA_BOOTSTRAP_SERVERS (its first server) or DATABASE_URL."""
    if name == "DATABASE_URL":
        url = urllib.parse.urlsplit(value)
        return url.hostname or "127.0.0.1", url.port or 5432
    host, _, port = value.split(",")[0].strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


def check_configured_server(name: str, value: str) -> None:
    """The rule for a server named by the environment: on this machine (loopback), it
    must accept a connection now, else fail at once with the cause. A shell that kept
    the `export` lines a previous `make run` printed points at servers that stopped
    with it; waiting for them would only end in a timeout. Remote servers are waited
    for as before (they may be starting)."""
    try:
        host, port = configured_address(name, value)
    except ValueError:
        raise StartupError(f"{name}={value!r} is not host:port / a postgresql:// URL") from None
    if host not in LOOPBACK_NAMES or port_accepts(port, "127.0.0.1"):
        return
    ours = port in (DEFAULT_KAFKA_PORT, DEFAULT_POSTGRES_PORT)
    hint = (
        "It is the address `make run` prints for other shells: most likely a stale export "
        "from a previous `make run` that has stopped. "
        if ours
        else ""
    )
    raise StartupError(
        f"{name}={value} points at {host}:{port}, where nothing is listening. {hint}"
        f"Run `unset {name}` to let `make run` start its own server, or start that server first."
    )


DEMO_ROLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("operator", ("admin", "dispatcher", "billing", "publisher"), ()),
    ("dispatcher", ("dispatcher",), ()),
    ("billing", ("billing",), ()),
    ("admin", ("admin",), ()),
    ("customer", ("customer",), ("cust-001",)),
    ("publisher", ("publisher",), ("cust-001",)),
)
"""(name, roles, customers) of the API keys `make run` prints: one per demo role, bound
to every customer unless customers are given (the simulated world's first customer)."""


def _demo_credentials(database_url: str) -> str:
    """A fresh API key per demo role, printed once: how a user of `make run` calls the
    APIs without an identity provider (`Authorization: Bearer <key>`)."""
    from msp_devstack.access import new_key

    lines = ["  Credentials (API keys, one per demo role; send `Authorization: Bearer <key>`):"]
    from msp_access.settings import AccessSettings

    pepper = AccessSettings().api_key_pepper.get_secret_value()  # the services' own
    for name, roles, customers in DEMO_ROLES:

        async def make(
            name: str = name, roles: tuple[str, ...] = roles, customers: tuple[str, ...] = customers
        ) -> str:
            return await new_key(
                database_url,
                namespace="",
                roles=roles,
                customers=customers,
                source=f"demo-{name}",
                pepper=pepper,
            )

        key = run_sync(make)
        scope = ",".join(customers) if customers else "every customer"
        lines.append(f"    {name:<10} {key}  ({'+'.join(roles)}; {scope})")
    lines.append("  Prometheus scrapes /metrics with MSP_METRICS_TOKEN (dev default).")
    return "\n".join(lines)


def _fresh(data_dir: Path) -> None:
    for name in FRESH_SUBDIRS:
        path = data_dir / name
        if path.exists():
            log.info("simulated run: deleting the previous run's %s", path)
            shutil.rmtree(path)


def _service_settings(name: str, data_dir: Path, *, simulated: bool) -> dict[str, str]:
    """Per-service environment: a simulation makes every clock follow event time (a
    month plays in a minute)."""
    from msp_devstack.fleet import EVENT_TIME_SETTINGS  # fleet imports this module

    extra: dict[str, str] = {}
    if simulated:
        extra.update(EVENT_TIME_SETTINGS.get(name, {}))
    if name == "billing" and "MSP_TECHNICIAN_COST_RATES" not in os.environ:
        extra["MSP_TECHNICIAN_COST_RATES"] = DEMO_COST_RATES
    return extra


def _start_smtp_sink(
    stack: contextlib.ExitStack, data_dir: Path, env: dict[str, str], taken: set[int]
) -> int:
    """The local SMTP sink notify sends to (`msp_devstack.smtp_sink`); its port."""
    port = free_port()
    while port in taken:
        port = free_port()
    sink = spawn_smtp_sink(port, data_dir, env=env)
    stack.callback(stop_process_group, sink, "smtp sink", timeout=10.0)
    return port


def spawn_smtp_sink(
    port: int, data_dir: Path, *, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`msp_devstack.smtp_sink` as a process on `port`: messages in `data_dir/mail`, its
    log in `data_dir/logs/smtp-sink.log` (`make run` and the test Fleet both use it)."""
    argv = (sys.executable, "-m", "msp_devstack.smtp_sink", "--port", str(port))
    return spawn(
        (*argv, "--out", str(data_dir / "mail")), data_dir / "logs" / "smtp-sink.log", env=env
    )


DEMO_DIRECTORY = {
    "roles": {
        role: [{"name": name, "email": f"{role.replace('_', '.')}@msp.example"}]
        for role, name in (
            ("on_call_engineer", "On-call engineer"),
            ("service_desk_lead", "Service desk lead"),
            ("service_delivery_manager", "Service delivery manager"),
            ("account_manager", "Account manager"),
        )
    }
}
"""The MSP's people in `make run` (notify's `MSP_NOTIFY_DIRECTORY`)."""


def notify_settings(smtp_port: int) -> dict[str, str]:
    """notify sends to the local SMTP sink, to the demo directory; a short group window
    (the simulated month's storms arrive within seconds)."""
    import json

    return {
        "MSP_SMTP_HOST": "127.0.0.1",
        "MSP_SMTP_PORT": str(smtp_port),
        "MSP_NOTIFY_DIRECTORY": json.dumps(DEMO_DIRECTORY),
        "MSP_GROUP_WINDOW_S": "5",
    }


MAIL_SETTLE_S = 5.0
MAIL_WAIT_S = 90.0


def mail_summary(
    folder: Path, *, settle_s: float = MAIL_SETTLE_S, wait_s: float = MAIL_WAIT_S
) -> str:
    """The count per kind of what notify sent to the SMTP sink, once no new message
    arrived for `settle_s` (group windows close, retries end), at most `wait_s`."""
    from msp_devstack.smtp_sink import count_messages

    deadline = time.monotonic() + wait_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(list(folder.glob("*.eml")))
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            break
        time.sleep(0.5)  # poll tick while notify drains
    counts = count_messages(folder)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
    return f"Notifications sent (emails in {folder}): {sum(counts.values())} ({kinds})"


def _simulate(
    simulation: Simulation, services: dict[str, _Started], env: dict[str, str], *, mail: Path
) -> None:
    """Play the month, print the summary. A failure is reported, and the stack stays up
    (its APIs are still worth looking at); Ctrl-C during the run stops everything."""
    from msp_simulator.player import Services
    from msp_simulator.session import play_and_report

    def url(name: str) -> str:
        return f"http://127.0.0.1:{services[name].port}"

    try:
        play_and_report(
            seed=simulation.seed,
            month=simulation.month,
            customers=simulation.customers,
            services=Services(url("ingest"), url("incidents"), url("sla-clock"), url("billing")),
            key_env=env,
        )
    except Exception:
        log.exception("the simulation failed; the services stay up")
        print(SIMULATION_FAILED_LINE, flush=True)
        return
    print(mail_summary(mail), flush=True)
    print(SIMULATED_LINE, flush=True)
    print("The APIs and /metrics stay up; Ctrl-C stops everything.", flush=True)


def _wait_until_serving(services: dict[str, _Started], data_dir: Path) -> None:
    """Each service answers /healthz before the stack reports ready."""
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    waiting = dict(services)
    while waiting:
        for name, started in list(waiting.items()):
            code = started.proc.poll()
            if code is not None:
                raise StartupError(
                    f"service {name} exited with code {code} while starting. Last lines of "
                    f"its log:\n{log_tail(data_dir / 'logs' / f'{name}.log')}"
                )
            if _answers_health(started.port):
                log.info("service %s is serving on port %d", name, started.port)
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise StartupError(
                f"services {sorted(waiting)} did not answer /healthz within "
                f"{SERVICE_START_TIMEOUT_S:.0f} s; see their logs in {data_dir / 'logs'}"
            )
        time.sleep(0.3)  # poll tick while the services start


def _answers_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _stop_service(started: _Started, name: str) -> None:
    """The service's current process (a restart replaces it)."""
    stop_process_group(started.proc, f"service {name}", timeout=20.0)


def _supervise(
    services: dict[str, _Started],
    data_dir: Path,
    *,
    until: Callable[[], bool] = lambda: False,
) -> int:
    """Watch the service processes until a signal arrives (raised as `_Shutdown`) or
    `until()`: a service that exits is restarted after a backoff (`RESTART_BACKOFF_S`),
    reported on stdout; Kafka, Postgres and the other services keep running."""
    while not until():
        now = time.monotonic()
        for name, started in services.items():
            if started.next_start is not None:
                if now >= started.next_start and started.respawn is not None:
                    started.proc = started.respawn()
                    started.next_start, started.running_since = None, now
                    print(
                        f"msp-devstack: restarted service {name} (pid {started.proc.pid}, "
                        f"restart {started.restarts})",
                        flush=True,
                    )
                continue
            code = started.proc.poll()
            if code is None:
                continue
            if now - started.running_since >= STABLE_AFTER_S:
                started.restarts = 0
            delay = RESTART_BACKOFF_S[min(started.restarts, len(RESTART_BACKOFF_S) - 1)]
            started.restarts += 1
            started.next_start = now + delay
            log_file = data_dir / "logs" / f"{name}.log"
            print(
                f"msp-devstack: service {name} exited with code {code}; restarting it in "
                f"{delay:.0f} s (restart {started.restarts}). Last lines of {log_file}:\n"
                f"{log_tail(log_file, lines=10)}",
                flush=True,
            )
        time.sleep(0.5)  # supervision tick; SIGINT/SIGTERM interrupt it at once
    return 0


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per simulator request
