"""Benchmark of notify: breach event on Kafka -> signed webhook received, at a steady
rate. The real notify runtime runs in-process (transactional consumer + delivery
worker); the receivers are real processes: `msp_devstack.webhook_sink` (verifies every
signature, logs each arrival's wall time) and `msp_devstack.smtp_sink`.

`--rate` breaches per minute (default 1,000) are produced for `--seconds` (default 60),
each with its own ticket, to a step whose role has one person with an email address and
a webhook: every breach makes two deliveries (the webhook timed, the email not), so the
worker carries twice the rate. Latency = the receiver's arrival time minus the moment
the bench handed the breach to the producer (same machine, same clock): p50/p99/max.

Run: `make bench-notify`. Writes bench/results/notify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.common import infrastructure, machine, server_version, write_results
from msp_devstack.processes import free_port, stop_process_group
from msp_devstack.testkit import wait_for_async
from msp_events import encode, make_event
from msp_events.topics import CONTRACTS, DEAD_LETTER, INCIDENTS, SLA
from msp_events.types.contracts import Contact, ContactDirectory
from msp_events.types.sla import SlaBreached
from msp_plumbing.kafka_admin import ensure_topics
from msp_plumbing.migrations import migrate
from notify.runtime import NotifyRuntime
from notify.settings import NotifySettings

SECRET = "bench-secret"


def breach(i: int) -> SlaBreached:
    """Ticket `T-<i>`s breach, due now."""
    due = datetime.now(UTC)
    return SlaBreached(
        clock_id=f"clk-{i}",
        ticket_id=f"T-{i}",
        metric="resolution",
        cycle=1,
        priority="P2",
        contract_id="ctr-bench",
        contract_version=1,
        due_at=due,
        breached_at=due,
        escalation_level=3,
        roles_to_inform=["service_desk_lead"],
        timezone="Europe/London",
    )


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def arrivals(out: Path) -> dict[str, float]:
    """event id -> first accepted arrival time at the receiver."""
    found: dict[str, float] = {}
    if not out.exists():
        return found
    for line in out.read_text().splitlines():
        record = json.loads(line)
        if record["accepted"]:
            found.setdefault(json.loads(record["body"])["event_id"], record["received_at"])
    return found


async def main(rate: int, seconds: float) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="msp-bench-notify-"))
    hook_port, smtp_port = free_port(), free_port()
    out = scratch / "webhooks.jsonl"
    hook = start(
        [
            "msp_devstack.webhook_sink",
            "--port",
            str(hook_port),
            "--secret",
            SECRET,
            "--out",
            str(out),
        ],
        scratch / "webhook-sink.log",
    )
    smtp = start(
        ["msp_devstack.smtp_sink", "--port", str(smtp_port), "--out", str(scratch / "mail")],
        scratch / "smtp-sink.log",
    )
    try:
        with infrastructure() as infra:
            namespace = f"bench_{uuid.uuid4().hex[:8]}_"
            schema = namespace.strip("_")
            await migrate(infra.database_url, schema=schema, package="notify")
            await ensure_topics(
                infra.kafka, [CONTRACTS, SLA, INCIDENTS, DEAD_LETTER], namespace=namespace
            )
            directory = ContactDirectory(
                roles={
                    "service_desk_lead": [
                        Contact(
                            name="Desk",
                            email="desk@msp.example",
                            webhook_url=f"http://127.0.0.1:{hook_port}/ok/desk",
                        )
                    ]
                }
            )
            settings = NotifySettings(
                KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
                DATABASE_URL=infra.database_url,
                db_schema=schema,
                topic_namespace=namespace,
                notify_directory=directory,
                smtp_port=smtp_port,
                webhook_secret=SECRET,
                delivery_poll_s=0.05,
                event_log_level="WARNING",
            )
            runtime = NotifyRuntime(settings)
            await runtime.start()
            producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, linger_ms=0)
            await producer.start()
            produced: dict[str, float] = {}
            total = int(rate * seconds / 60)
            interval = 60.0 / rate
            topic = SLA.named(namespace)
            try:
                # warm-up: the consumer has joined its group and the worker polls once a
                # first breach went all the way through; the timed run starts after it
                warm = make_event(
                    breach(-1),
                    customer_id="cust-warm",
                    source="/bench",
                    time=datetime.now(UTC),
                    id="breach-warm-up",
                    subject="T-warm",
                )
                record = encode(warm)
                await producer.send_and_wait(topic, value=record.value, key=record.key)
                await wait_for_async(lambda: warm.id in arrivals(out), timeout=120, interval=0.2)
                began = time.monotonic()
                for i in range(total):
                    # a steady rate: each breach at its own slot, not in bursts
                    await asyncio.sleep(max(0.0, began + i * interval - time.monotonic()))
                    event = make_event(
                        breach(i),
                        customer_id=f"cust-{i % 30:03d}",
                        source="/bench",
                        time=datetime.now(UTC),
                        id=f"breach-{i}",
                        subject=f"T-{i}",
                    )
                    record = encode(event)
                    produced[event.id] = time.time()
                    await producer.send(topic, value=record.value, key=record.key)
                await producer.flush()
                with contextlib.suppress(AssertionError):  # a shortfall is reported below
                    await wait_for_async(
                        # the warm-up's arrival is one of them
                        lambda: len(arrivals(out)) >= total + 1,
                        timeout=120,
                        interval=0.5,
                    )
                # where the time goes: event time -> planned (consumer), -> sent (worker)
                conn = await asyncpg.connect(
                    infra.database_url, server_settings={"search_path": schema}
                )
                try:
                    split = await conn.fetchrow(
                        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY
                                      extract(epoch FROM created_at - source_time)) AS planned,
                                  percentile_cont(0.5) WITHIN GROUP (ORDER BY
                                      extract(epoch FROM sent_at - created_at)) AS sent
                           FROM deliveries WHERE channel = 'webhook' AND status = 'sent'"""
                    )
                finally:
                    await conn.close()
            finally:
                await producer.stop()
                await runtime.stop()
            seen = arrivals(out)
            seen.pop(warm.id, None)
            lags = sorted(seen[k] - produced[k] for k in produced if k in seen)
            cuts = quantiles(lags, n=100) if len(lags) > 1 else [0.0] * 99
            metrics: dict[str, float] = {
                "breaches_per_min": rate,
                "deliveries_per_min": 2 * rate,
                "breaches": total,
                "webhooks_received": sum(1 for k in produced if k in seen),
                "latency_p50_s": round(cuts[49], 4),
                "latency_p99_s": round(cuts[98], 4),
                "latency_max_s": round(lags[-1], 4) if lags else 0.0,
                "planned_p50_s": round(float(split["planned"] or 0), 4),
                "planned_to_sent_p50_s": round(float(split["sent"] or 0), 4),
                "emails_received": len(list((scratch / "mail").glob("*.eml"))) - 1,
            }
            facts = machine(infra, await server_version(infra.database_url))
            path = write_results("notify", facts, metrics)
            print(json.dumps(metrics, indent=2))
            print(f"wrote {path}")
    finally:
        stop_process_group(hook, "webhook sink", timeout=10)
        stop_process_group(smtp, "smtp sink", timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="breaches per minute")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
