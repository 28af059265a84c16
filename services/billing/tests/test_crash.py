"""Crash safety: `python -m billing` is SIGKILLed between the steps (consume ->
commit, Kafka ack -> mark sent, invoice run -> commit, invoice commit -> relay); after
restarts every line item and every invoice is on the topics exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
from billing_factory import workload
from billing_harness import connect, setup_topics

from msp_devstack.access import operator_headers
from msp_devstack.testkit import produce, read_topic, service_env, wait_for_async
from msp_events.topics import (
    BILLING_INVOICES,
    BILLING_LINE_ITEMS,
    CHANGE_ORDERS,
    CONTRACTS,
    TICKETS,
)
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

CUSTOMERS, PER_CUSTOMER = 3, 10
RUN = {"period": "2026-03", "as_of": "2026-04-01T06:00:00Z"}


class Worker:
    def __init__(self, env: dict[str, str], log: Path, headers: dict[str, str]) -> None:
        self.env, self.log, self.headers = env, log, headers
        self.port = int(env["MSP_HTTP_PORT"])
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, crash: str | None = None) -> Worker:
        env = dict(self.env)
        if crash:
            env["MSP_CRASH_POINT"] = crash
        with self.log.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "billing", env=env, stdout=sink, stderr=sink
            )
        return self

    async def ready(self) -> None:
        async def up() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for_async(up, timeout=60, interval=0.2, message=self.log.read_text)

    async def post_run(self) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient() as client:
                return await client.post(
                    f"http://127.0.0.1:{self.port}/v1/invoice-runs",
                    json=RUN,
                    timeout=30,
                    headers=self.headers,
                )
        except httpx.HTTPError:
            return None  # killed while answering

    async def killed(self) -> None:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), 90)
        assert rc == -signal.SIGKILL, f"expected a crash, got {rc}:\n{self.log.read_text()}"

    async def stop(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises SIGTERM: -15 is a clean stop
        rc = await asyncio.wait_for(self.proc.wait(), 30)
        assert rc in (0, -signal.SIGTERM), self.log.read_text()


async def count(db: asyncpg.Connection, sql: str) -> int:
    return int(await db.fetchval(sql))


async def test_killed_between_every_step_loses_and_duplicates_nothing(
    kafka_bootstrap: str, database_url: str, namespace: str, schema: str, tmp_path: Path
) -> None:
    await setup_topics(kafka_bootstrap, namespace)
    await migrate(database_url, schema=schema, package="billing")
    inputs = workload(CUSTOMERS, PER_CUSTOMER)
    await produce(kafka_bootstrap, CONTRACTS.named(namespace), inputs["contracts"])
    await produce(kafka_bootstrap, CHANGE_ORDERS.named(namespace), inputs["orders"])
    await produce(kafka_bootstrap, TICKETS.named(namespace), inputs["tickets"])
    env = service_env(
        kafka=kafka_bootstrap,
        database_url=database_url,
        schema=schema,
        namespace=namespace,
        MSP_CONSUMER_BATCH_SIZE="5",
    )
    headers = await operator_headers(database_url, namespace=namespace)
    worker = Worker(env, tmp_path / "billing.log", headers)
    db = await connect(database_url, schema)
    try:
        # killed between consume and commit, then between Kafka's ack and marking sent
        await (await worker.start("consumer.before_commit:3")).killed()
        assert await count(db, "SELECT count(*) FROM entries") < CUSTOMERS * PER_CUSTOMER
        await (await worker.start("relay.after_send:1")).killed()
        await (await worker.start()).ready()

        async def settled() -> bool:
            done = await count(db, "SELECT count(DISTINCT entry_id) FROM line_items")
            unsent = await count(db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            return done == CUSTOMERS * PER_CUSTOMER and unsent == 0

        await wait_for_async(settled, timeout=90, message="all entries recorded and relayed")
        await worker.stop()

        # killed inside the invoice run's transaction: nothing of it survives
        await (await worker.start("billing.api.before_commit")).ready()
        assert await worker.post_run() is None
        await worker.killed()
        assert await count(db, "SELECT count(*) FROM closed_periods") == 0
        # killed after the run committed, once Kafka acked the invoices
        await (await worker.start("relay.after_send:1")).ready()
        await worker.post_run()
        await worker.killed()
        assert await count(db, "SELECT count(*) FROM invoices") == CUSTOMERS
        # restarted: the rerun changes nothing, the relay finishes without resending
        await (await worker.start()).ready()
        rerun = await worker.post_run()
        assert rerun is not None and rerun.status_code == 200
        assert {o["outcome"] for o in rerun.json()["outcomes"]} == {"already_issued"}
        await wait_for_async(
            lambda: db.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"),
            timeout=60,
            message="outbox drained",
        )
        await worker.stop()

        lines = await read_topic(kafka_bootstrap, BILLING_LINE_ITEMS.named(namespace))
        ids = Counter(json.loads(r.value)["id"] for r in lines)
        expected = await count(
            db, f"SELECT count(*) FROM outbox WHERE topic = '{BILLING_LINE_ITEMS.named(namespace)}'"
        )
        assert len(lines) == expected == len(ids), "a line item was lost or published twice"
        recorded = {
            json.loads(r.value)["data"]["line_item_id"]
            for r in lines
            if json.loads(r.value)["type"] == "msp.billing.line_item_recorded.v1"
        }
        assert recorded == {
            r["line_item_id"] for r in await db.fetch("SELECT line_item_id FROM line_items")
        }
        invoices = await read_topic(kafka_bootstrap, BILLING_INVOICES.named(namespace))
        assert len(invoices) == CUSTOMERS, "an invoice was lost or published twice"
        assert len({json.loads(r.value)["data"]["invoice_id"] for r in invoices}) == CUSTOMERS
    finally:
        await db.close()
        if worker.proc is not None and worker.proc.returncode is None:
            worker.proc.kill()
            await worker.proc.wait()
