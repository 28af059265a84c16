"""What every benchmark shares: infrastructure (the local broker and Postgres, or the
ones named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), machine facts, the results file."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Infra:
    kafka: str
    database_url: str
    kafka_version: str


@contextmanager
def infrastructure() -> Iterator[Infra]:
    from msp_devstack.kafka import KAFKA_VERSION, LocalKafka, fetch_kafka
    from msp_devstack.postgres import LocalPostgres

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="msp-bench-")))
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not kafka:
            fetch_kafka()
            kafka = stack.enter_context(LocalKafka(scratch / "kafka")).bootstrap_servers
        db = os.environ.get("DATABASE_URL")
        if not db:
            scratch.chmod(0o755)  # the non-root postgres user must reach its data dir
            db = stack.enter_context(LocalPostgres(scratch / "pg")).database_url
        yield Infra(kafka, db, KAFKA_VERSION)


async def server_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def machine(infra: Infra, postgres_version: str) -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka": infra.kafka_version,
        "postgres": postgres_version,
        "aiokafka": version("aiokafka"),
        "asyncpg": version("asyncpg"),
        "external_kafka": bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
        "external_postgres": bool(os.environ.get("DATABASE_URL")),
    }


def write_results(name: str, machine_facts: dict[str, object], metrics: dict[str, float]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_facts, "metrics": metrics}, indent=2) + "\n")
    return path


@asynccontextmanager
async def consumer_from_start(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A bare consumer with every partition of `topic` assigned and positioned at its
    first record: no group join, so nothing but reading is timed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts:  # the consumer only tracks topics it was told of
            consumer._client.add_topic(topic)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        yield consumer
    finally:
        await consumer.stop()


def listener_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:`port` (the local broker, Postgres)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0].split(",", 1)[0])


class CpuMeter:
    """CPU seconds over a phase, per part: this process (the load generator), the
    service, the broker, Postgres (each a process and its children), and the whole
    machine (/proc/stat: includes whatever else runs on it)."""

    PARTS = ("load_generator", "service", "kafka", "postgres", "machine")

    def __init__(
        self, service_pid: int | None, kafka_pid: int | None, postgres_pid: int | None
    ) -> None:
        self.pids = (service_pid, kafka_pid, postgres_pid)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _tree(self, pid: int | None) -> float:
        if pid is None:  # not found (an external broker or database): not counted
            return 0.0
        pids = [pid]
        with contextlib.suppress(OSError):
            pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        total = 0
        for p in pids:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (all threads)
            except OSError:
                pass
        return total / self.tick

    def _machine(self) -> float:
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        idle = int(cpu[3]) + int(cpu[4])  # idle + iowait
        return (sum(int(v) for v in cpu[:8]) - idle) / self.tick

    def sample(self) -> list[float]:
        return [time.process_time(), *(self._tree(p) for p in self.pids), self._machine()]

    @staticmethod
    def seconds(before: list[float], after: list[float]) -> dict[str, float]:
        return {k: a - b for k, a, b in zip(CpuMeter.PARTS, after, before, strict=True)}


class LocalIssuer:
    """An OIDC issuer for the benchmarks: an RSA and an EC key, their JWKS served over
    HTTP on loopback (what a provider's `jwks_uri` answers), tokens signed with PyJWT.
    Use as a context manager; `settings_env()` points a service at it."""

    PATH = "/realms/bench"

    def __init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.keys: dict[str, Any] = {
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
        }
        self.jwks = {
            "keys": [
                {
                    **jwt.algorithms.RSAAlgorithm.to_jwk(
                        self.keys["rsa"].public_key(), as_dict=True
                    ),
                    "kid": "rsa",
                    "use": "sig",
                    "alg": "RS256",
                },
                {
                    **jwt.algorithms.ECAlgorithm.to_jwk(self.keys["ec"].public_key(), as_dict=True),
                    "kid": "ec",
                    "use": "sig",
                    "alg": "ES256",
                },
            ]
        }
        self.issuer = ""
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> LocalIssuer:
        body = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}{self.PATH}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/certs"

    def settings_env(self) -> dict[str, str]:
        return {"MSP_OIDC_ISSUER": self.issuer, "MSP_OIDC_JWKS_URL": self.jwks_url}

    def token(
        self,
        *,
        roles: list[str],
        customers: list[str] | None = None,
        alg: str = "RS256",
        lifetime_s: int = 3600,
    ) -> str:
        import jwt

        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": "msp-api",
            "sub": "bench-user",
            "name": "Bench",
            "azp": "bench",
            "exp": now + lifetime_s,
            "nbf": now,
            "realm_access": {"roles": roles},
        }
        if customers is not None:
            claims["customer_ids"] = customers
        kid = "rsa" if alg == "RS256" else "ec"
        return jwt.encode(claims, self.keys[kid], algorithm=alg, headers={"kid": kid})
