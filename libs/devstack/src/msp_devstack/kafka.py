"""A single-node Apache Kafka (KRaft) broker from Maven Central, run with the machine's JDK.

`fetch_kafka()` downloads the broker jars once with `mvn` into `.local/kafka/<version>/`;
`LocalKafka` formats a data dir (once), starts the broker in its own process group on
loopback, waits until it answers a metadata request, and stops it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from types import TracebackType

from msp_devstack.paths import local_dir
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
from msp_plumbing.kafka_admin import wait_for_broker

log = logging.getLogger("msp_devstack.kafka")

_RESOURCES = resources.files("msp_devstack").joinpath("resources")
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class PrerequisiteError(RuntimeError):
    """A tool the local stack needs (mvn, java) is not installed."""


class FetchError(RuntimeError):
    """Maven could not fetch the broker jars."""


def _pom_text() -> str:
    return _RESOURCES.joinpath("pom.xml").read_text(encoding="utf-8")


def _pom_kafka_version() -> str:
    node = ET.fromstring(_pom_text()).find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise RuntimeError("msp_devstack/resources/pom.xml has no <kafka.version> property")
    return (node.text or "").strip()


KAFKA_VERSION = _pom_kafka_version()
"""The pinned broker version; its one source is `<kafka.version>` in resources/pom.xml."""


def require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrerequisiteError(f"`{name}` is not on PATH: {why}")
    return path


def require_java() -> str:
    return require_tool(
        "java",
        "the local Kafka broker runs on a Java runtime (JDK/JRE 17 or newer, e.g. "
        "`apt-get install openjdk-17-jre-headless`), or set KAFKA_BOOTSTRAP_SERVERS to use "
        "an existing broker",
    )


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    return local_dir() / "kafka" / version


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_kafka(*, force: bool = False) -> Path:
    """Make sure the broker jars are in `.local/kafka/<version>/libs`; returns that folder.
    Downloads with `mvn dependency:copy-dependencies` unless a marker from an earlier
    successful fetch of the same pom is present. Safe to call from parallel processes."""
    home = kafka_home()
    libs = home / "libs"
    marker = home / "fetched.json"
    pom = _pom_text()
    pom_sha = hashlib.sha256(pom.encode()).hexdigest()

    def fetched() -> bool:
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            return False
        return bool(recorded.get("pom_sha256") == pom_sha and any(libs.glob("kafka_2.13-*.jar")))

    if not force and fetched():
        return libs
    mvn = require_tool(
        "mvn",
        "Apache Maven downloads the Kafka broker jars from Maven Central once "
        "(e.g. `apt-get install maven`), or set KAFKA_BOOTSTRAP_SERVERS to use an existing "
        "broker",
    )
    require_java()
    with _file_lock(home / ".fetch.lock"):
        if not force and fetched():
            return libs
        log.info("fetching Kafka %s broker jars from Maven Central into %s", KAFKA_VERSION, libs)
        started = time.monotonic()
        (home / "pom.xml").write_text(pom, encoding="utf-8")
        shutil.rmtree(libs, ignore_errors=True)
        marker.unlink(missing_ok=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-30:]
            raise FetchError(
                f"`mvn dependency:copy-dependencies` failed (exit {result.returncode}) "
                f"fetching Kafka {KAFKA_VERSION}:\n" + "\n".join(output)
            )
        jars = sorted(p.name for p in libs.glob("*.jar"))
        if f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
            raise FetchError(f"mvn finished but {libs} has no kafka_2.13-{KAFKA_VERSION}.jar")
        marker.write_text(
            json.dumps({"version": KAFKA_VERSION, "pom_sha256": pom_sha, "jars": jars})
        )
        log.info(
            "fetched %d jars for Kafka %s in %.1f s",
            len(jars),
            KAFKA_VERSION,
            time.monotonic() - started,
        )
    return libs


def _cluster_id() -> str:
    """A Kafka cluster id, as `kafka-storage random-uuid` makes: 16 random bytes in
    unpadded URL-safe base64 (Kafka rejects ids starting with '-')."""
    while True:
        candidate = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class LocalKafka:
    """A single-node KRaft broker+controller on loopback, with its data in `data_dir`:
    `logs/` (the log dirs), `server.properties`, `kafka.log` (the broker's output)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap_mb: int = 512,
        start_timeout: float = 90.0,
        stop_timeout: float = 30.0,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap_mb = heap_mb
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_config = dict(extra_config or {})
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._libs: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalKafka is not started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _choose_ports(self) -> None:
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise StartupError(
                f"cannot start Kafka on {LOOPBACK}:{self.port}: the port is in use "
                f"(another broker? choose another port)"
            )
        if self.controller_port is None or not port_is_free(self.controller_port):
            self.controller_port = free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()

    def _server_properties(self) -> dict[str, str]:
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},"
            f"CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        }
        config.update(self.extra_config)
        return config

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            require_java(),
            f"-Xmx{self.heap_mb}m",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp",
            str((self._libs or fetch_kafka()) / "*"),
            main_class,
            *args,
        ]

    def start(self) -> LocalKafka:
        if self._proc is not None:
            return self
        started = time.monotonic()
        self._choose_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._libs = fetch_kafka()
        properties = self.data_dir / "server.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in self._server_properties().items()))
        (self.data_dir / "log4j.properties").write_text(
            _RESOURCES.joinpath("log4j.properties").read_text(encoding="utf-8")
        )
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(properties)
        log.info(
            "starting Kafka %s on %s (controller port %s), log %s",
            KAFKA_VERSION,
            self.bootstrap_servers,
            self.controller_port,
            self.log_path,
        )
        self._proc = spawn(
            self._java_command("kafka.Kafka", str(properties)), self.log_path, cwd=self.data_dir
        )
        try:
            self._wait_until_ready(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        log.info(
            "Kafka ready at %s in %.1f s (pid %d)",
            self.bootstrap_servers,
            self.startup_seconds,
            self._proc.pid,
        )
        return self

    def _format(self, properties: Path) -> None:
        log.info("formatting a new KRaft store in %s", self.data_dir / "logs")
        command = self._java_command(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            _cluster_id(),
            "-c",
            str(properties),
            "--ignore-formatted",
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise StartupError(
                f"kafka-storage format failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._proc is not None
        assert self.port is not None
        bootstrap = self.bootstrap_servers
        while True:
            code = self._proc.poll()
            if code is not None:
                raise StartupError(
                    f"Kafka broker exited with code {code} while starting; last lines of "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StartupError(
                    f"Kafka broker did not answer on {self.bootstrap_servers} within "
                    f"{self.start_timeout:.0f} s; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            if port_accepts(self.port):
                attempt = min(5.0, remaining)
                try:
                    run_sync(lambda: wait_for_broker(bootstrap, timeout=attempt))  # noqa: B023
                except TimeoutError:
                    continue
                return
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is None:
            return
        stop_process_group(
            self._proc, "Kafka broker", sig=signal.SIGTERM, timeout=self.stop_timeout
        )
        self._proc = None

    def restart(self, *, down_s: float = 0.0) -> None:
        """Stop the broker (SIGTERM: a controlled shutdown), `down_s` seconds with
        nothing listening, then start it again on the same ports and log dirs."""
        self.stop()
        if down_s > 0:
            time.sleep(down_s)  # the outage itself: nothing to wait for
        self.start()

    def freeze(self) -> None:
        """SIGSTOP the broker's JVM: connections stay open and nothing answers."""
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what `freeze` stopped."""
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            raise RuntimeError("LocalKafka is not started")
        os.killpg(self._proc.pid, sig)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
