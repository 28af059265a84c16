"""Shared test data: a London office-hours contract (Mon-Fri 08:00-18:00, P1 24x7),
and helpers to build ticket events."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import (
    ContractSnapshot,
    ContractVersion,
    EscalationStep,
    ExcludedAsset,
)

LON = ZoneInfo("Europe/London")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LON).astimezone(UTC)  # type: ignore[misc]


def contract_version(**changes: Any) -> ContractVersion:
    base = sample_contract_version()
    excluded = [
        ExcludedAsset(asset_id="ws-legacy-xp01", reason="Windows XP: below minimum standard")
    ]
    return base.model_copy(update={"excluded_assets": excluded, **changes})


def snapshot(*versions: ContractVersion, contract_id: str = "ctr-1") -> ContractSnapshot:
    return ContractSnapshot(
        contract_id=contract_id, versions=list(versions or [contract_version()])
    )


def ticket_event(
    data: EventData, *, customer: str = "cust-1", at: datetime | None = None, id: str
) -> Envelope:
    time = at or next(
        getattr(data, f)
        for f in ("opened_at", "changed_at", "added_at", "resolved_at", "reopened_at", "closed_at")
        if hasattr(data, f)
    )
    return make_event(
        data,
        customer_id=customer,
        source="/psa",
        time=time,
        subject=getattr(data, "ticket_id", None),
        id=id,
    )


def escalating_contract() -> ContractSnapshot:
    """The sample plan (75 %, 90 %, 100 %) with two steps after the breach."""
    plan = [
        *contract_version().escalation_plan,
        EscalationStep(
            threshold_percent=150,
            level=4,
            roles_to_inform=["account_manager"],
            accountable=["service_delivery_manager"],
        ),
        EscalationStep(threshold_percent=200, level=5, roles_to_inform=["msp_director"]),
    ]
    return snapshot(contract_version(escalation_plan=plan))


@pytest.fixture
def version() -> ContractVersion:
    return contract_version()


# -- integration fixtures -------------------------------------------------------------

from collections.abc import AsyncIterator, Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from msp_devstack.access import operator_headers  # noqa: E402
from msp_devstack.testkit import produce, read_topic  # noqa: E402
from msp_events import decode  # noqa: E402
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, SLA, TICKETS  # noqa: E402
from msp_plumbing.kafka_admin import ensure_topics  # noqa: E402
from msp_plumbing.migrations import migrate  # noqa: E402
from sla_clock.app import build_app  # noqa: E402
from sla_clock.runtime import SlaRuntime  # noqa: E402
from sla_clock.settings import SlaSettings  # noqa: E402
from sla_clock.timesource import Now  # noqa: E402


def schema_of(namespace: str) -> str:
    return namespace.replace("-", "_").strip("_").lower()


def settings_for(
    kafka: str, database_url: str, namespace: str, schema: str, **extra: Any
) -> SlaSettings:
    return SlaSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=database_url,
        db_schema=schema,
        topic_namespace=namespace,
        **extra,
    )


@dataclass
class Service:
    runtime: SlaRuntime
    http: httpx.AsyncClient
    db: asyncpg.Connection
    kafka: str
    namespace: str

    async def send(self, topic: str, events: list[Envelope]) -> None:
        await produce(self.kafka, topic, events)

    async def sla_events(self) -> list[Envelope]:
        records = await read_topic(self.kafka, SLA.named(self.namespace))
        return [decode(r.value) for r in records]


async def prepare(kafka: str, database_url: str, namespace: str, schema: str) -> None:
    await migrate(database_url, schema=schema, package="sla_clock")
    await ensure_topics(
        kafka, [TICKETS, CONTRACTS, INCIDENTS, SLA, DEAD_LETTER], namespace=namespace
    )


@pytest.fixture
async def start_service(
    kafka_bootstrap: str, database_url: str, namespace: str
) -> AsyncIterator[Callable[..., Any]]:
    started: list[Service] = []

    async def start(clock: Now | None = None, schema: str | None = None, **extra: Any) -> Service:
        schema = schema or schema_of(namespace)
        await prepare(kafka_bootstrap, database_url, namespace, schema)
        settings = settings_for(kafka_bootstrap, database_url, namespace, schema, **extra)
        app, runtime = build_app(settings, clock=clock)
        await runtime.start()
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://sla",
            headers=await operator_headers(database_url, namespace=namespace),
        )
        db = await asyncpg.connect(database_url, server_settings={"search_path": schema})
        service = Service(runtime, http, db, kafka_bootstrap, namespace)
        started.append(service)
        return service

    yield start
    for s in started:
        await s.http.aclose()
        await s.db.close()
        await s.runtime.stop()


async def start_process(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """sla-clock as its own process (`python -m sla_clock`), logging to `log`: the
    crash tests kill it with SIGKILL and start it again on the same state."""
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sla_clock", env=env, stdout=sink, stderr=sink
        )


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 30 seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
