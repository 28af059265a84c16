"""Test harness: notify on the test's broker and Postgres, the real receivers as
processes, and the events of a story (a contract with contacts, SLA steps, incidents)."""

from __future__ import annotations

import email
import email.policy
import json
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from msp_devstack.access import operator_headers
from msp_devstack.processes import free_port, stop_process_group
from msp_devstack.testkit import produce, wait_for, wait_for_async
from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, SLA
from msp_events.types.contracts import Contact, ContactDirectory, ContractSnapshot
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from notify.app import build_app
from notify.runtime import NotifyRuntime
from notify.settings import NotifySettings

SECRET = "test-webhook-secret"
SMTP_USER, SMTP_PASSWORD = "notify", "s3cret"
CUSTOMER = "cust-1"


# -- the receivers ----------------------------------------------------------------------


def _wait_listening(proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
    import socket

    def up() -> bool:
        assert proc.poll() is None, f"receiver exited: {log.read_text()}"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, timeout=30, message=f"a receiver on port {port}")


@dataclass
class WebhookSink:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url("/stats"), timeout=5) as resp:
            stats: dict[str, Any] = json.loads(resp.read())
            return stats

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The accepted requests' JSON bodies on `path`."""
        if not self.out.exists():
            return []
        lines = [json.loads(line) for line in self.out.read_text().splitlines()]
        return [json.loads(x["body"]) for x in lines if x["path"] == path and x["accepted"]]

    def stop(self) -> None:
        stop_process_group(self.proc, "webhook sink", timeout=10)


def start_webhook_sink(folder: Path) -> WebhookSink:
    port, out = free_port(), folder / "webhooks.jsonl"
    log = folder / "webhook-sink.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "msp_devstack.webhook_sink",
            "--port",
            str(port),
            "--secret",
            SECRET,
            "--out",
            str(out),
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_listening(proc, log, port)
    return WebhookSink(proc, port, out)


@dataclass
class SmtpSink:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path

    def messages(self) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted(self.out.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, email.message.EmailMessage)
            found.append(msg)
        return found

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    def stop(self) -> None:
        stop_process_group(self.proc, "smtp sink", timeout=10)


def start_smtp_sink(folder: Path) -> SmtpSink:
    """aiosmtpd offering STARTTLS (self-signed) and requiring AUTH after it."""
    port, out = free_port(), folder / "mail"
    log = folder / "smtp-sink.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "msp_devstack.smtp_sink",
            "--port",
            str(port),
            "--out",
            str(out),
            "--tls",
            "--auth",
            f"{SMTP_USER}:{SMTP_PASSWORD}",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_listening(proc, log, port)
    return SmtpSink(proc, port, out)


def smtp_env(smtp: SmtpSink) -> dict[str, str]:
    return {
        "MSP_SMTP_HOST": "127.0.0.1",
        "MSP_SMTP_PORT": str(smtp.port),
        "MSP_SMTP_USERNAME": SMTP_USER,
        "MSP_SMTP_PASSWORD": SMTP_PASSWORD,
        "MSP_SMTP_REQUIRE_TLS": "true",
        "MSP_SMTP_VERIFY_TLS": "false",  # the sink's certificate is self-signed
        "MSP_WEBHOOK_SECRET": SECRET,
    }


# -- the service --------------------------------------------------------------------------


def schema_of(namespace: str) -> str:
    return namespace.strip("_").lower()


async def prepare(kafka: str, database_url: str, namespace: str) -> str:
    schema = schema_of(namespace)
    await migrate(database_url, schema=schema, package="notify")
    await ensure_topics(kafka, [CONTRACTS, SLA, INCIDENTS, DEAD_LETTER], namespace=namespace)
    return schema


@dataclass
class NotifyUnderTest:
    app: FastAPI
    runtime: NotifyRuntime
    http: httpx.AsyncClient
    db: asyncpg.Connection
    kafka: str
    namespace: str

    async def send(self, topic: str, events: list[Envelope]) -> None:
        await produce(self.kafka, f"{self.namespace}{topic}", events)

    async def send_contract(self, contract: Envelope) -> None:
        """Send it and wait until notify holds it (topics are consumed independently:
        a test's SLA events must not overtake their contract)."""
        await self.send(CONTRACTS.name, [contract])

        async def stored() -> bool:
            found = await self.db.fetchval(
                "SELECT count(*) FROM contracts WHERE customer_id = $1", contract.customer_id
            )
            return bool(found)

        await wait_for_async(stored, timeout=60, message="the contract stored")

    async def deliveries(self, **params: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/v1/deliveries", params={"limit": "1000", **params})
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["deliveries"]
        return found

    async def close(self) -> None:
        await self.http.aclose()
        await self.db.close()
        await self.runtime.stop()


async def start_notify(
    kafka: str, database_url: str, namespace: str, *, smtp: SmtpSink, **settings: Any
) -> NotifyUnderTest:
    schema = await prepare(kafka, database_url, namespace)
    env = {k.removeprefix("MSP_").lower(): v for k, v in smtp_env(smtp).items()}
    values: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": database_url,
        "db_schema": schema,
        "topic_namespace": namespace,
        "delivery_poll_s": 0.05,
        "retry_base_s": 0.05,
        "retry_cap_s": 0.2,
        **env,
        **settings,
    }
    app, runtime = build_app(NotifySettings(**values))
    await runtime.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://notify",
        headers=await operator_headers(database_url, namespace=namespace),
    )
    db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    return NotifyUnderTest(app, runtime, http, db, kafka, namespace)


# -- the story's events -------------------------------------------------------------------

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday: inside London office hours


def msp_directory(**roles: list[Contact]) -> ContactDirectory:
    """The MSP's people (`MSP_NOTIFY_DIRECTORY`: its `model_dump_json()`)."""
    return ContactDirectory(roles=roles)


def contract_event(contacts: ContactDirectory, *, customer: str = CUSTOMER) -> Envelope:
    version = sample_contract_version().model_copy(update={"contacts": contacts})
    data = ContractSnapshot(contract_id=f"ctr-{customer}", versions=[version])
    return make_event(
        data,
        customer_id=customer,
        source="/crm",
        time=T0 - timedelta(days=1),
        id=f"contract-{customer}",
    )


def event(
    data: EventData, *, id: str, at: datetime, customer: str = CUSTOMER, subject: str | None = None
) -> Envelope:
    return make_event(data, customer_id=customer, source="/test", time=at, id=id, subject=subject)


def killed(proc: subprocess.Popen[bytes]) -> bool:
    """The process ended by SIGKILL (its own crash point)."""
    return proc.poll() == -signal.SIGKILL
