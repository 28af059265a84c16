"""CPU per consumed event in notify's consumer, before and after a change, interleaved
in one run: the handler applies batches of incident and SLA events in a transaction
on a real Postgres (no Kafka: the plumbing's own cost is the plumbing bench's), and
the process CPU time of the handler (notify's Python) and of Postgres is divided by
the events applied.

"before" is the consumer (consumers.py, service.py) of a git revision (`--before`,
loaded from git into this process beside today's rules and settings), "after" is
today's. Each workload is a stream of batches of `--batch` events over 30 customers
with contracts: `opened_p3` (not notified: most new alerts' incidents), `opened_p2`
(notified: grouped incident notices), `updated` (a known incident's title and
priority, no escalation), `resolved` (of notified incidents), `breach` (SLA).

Run: `python -m bench.notify_consume [--rounds 3 --batches 5 --batch 100] [--profile]`
(`--profile`: then one more round per variant under cProfile, in process CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import asyncpg

from bench.common import CpuMeter, listener_pid, port_of
from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import Contact, ContactDirectory, ContractSnapshot
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_plumbing.consumer import Tx
from msp_plumbing.migrations import migrate
from notify.settings import NotifySettings

Apply = Callable[[Tx, Sequence[Envelope]], Awaitable[None]]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CUSTOMERS = 30
WORKLOADS = ("opened_p3", "opened_p2", "updated", "resolved", "breach")


def _git_module(revision: str, path: str, name: str, replace: tuple[str, str] | None) -> object:
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    if replace:
        source = source.replace(*replace)
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    return module


def before(revision: str, settings: NotifySettings) -> Apply:
    """The consumer at `revision`: a per-event `Handler` applied event by event (as
    the plumbing does), or a batch handler."""
    src = "services/notify/src/notify"
    _git_module(revision, f"{src}/service.py", "notify_before_service", None)
    consumers = _git_module(
        revision,
        f"{src}/consumers.py",
        "notify_before_consumers",
        (
            "from notify import metrics, rules, service",
            "from notify import metrics, rules\nimport notify_before_service as service",
        ),
    )
    make = getattr(consumers, "make_batch_handler", None)
    if make is not None:
        batch: Apply = make(settings)
        return batch
    handler = consumers.make_handler(settings)  # type: ignore[attr-defined]

    async def each(tx: Tx, events: Sequence[Envelope]) -> None:
        for event in events:
            tx.cause = event
            await handler(tx, event)

    return each


def after(settings: NotifySettings) -> Apply:
    from notify.consumers import make_batch_handler

    return make_batch_handler(settings)


def opened(i: int, priority: str) -> IncidentOpened:
    return IncidentOpened(
        incident_id=f"inc-{i}",
        title=f"dev-{i} offline",
        priority=priority,
        impact="medium",
        urgency="high",
        scope="device",
        site_id=f"site-{i % 7}",
        device_ids=[f"dev-{i}"],
        alert_fingerprints=[f"fp-{i}"],
        check_kind="device_offline",
        priority_reason="device offline at a managed site",
        tier="managed",
        opened_at=T0 + timedelta(seconds=i),
    )


def workload(name: str, first: int, count: int) -> list[Envelope]:
    """`count` events of workload `name`, numbered from `first`; `updated` and
    `resolved` refer to the incidents `opened_p2` opened with the same numbers."""
    out = []
    for i in range(first, first + count):
        data: EventData
        if name == "opened_p3":
            data = opened(i + 10_000_000, "P3")
        elif name == "opened_p2":
            data = opened(i, "P2")
        elif name == "updated":
            data = IncidentUpdated(
                incident_id=f"inc-{i}",
                priority="P2",
                reason="more alerts",
                title=f"dev-{i} and more offline",
                updated_at=T0 + timedelta(seconds=i, minutes=1),
            )
        elif name == "resolved":
            data = IncidentResolved(
                incident_id=f"inc-{i}",
                resolved_at=T0 + timedelta(seconds=i, minutes=5),
                duration_seconds=300,
                reason="all alerts recovered",
            )
        else:
            from bench.notify import breach

            data = breach(i)
        out.append(
            make_event(
                data,
                customer_id=f"cust-{i % CUSTOMERS:03d}",
                source="/bench",
                time=T0 + timedelta(seconds=i),
                id=f"{name}-{i}",
                trusted=True,
            )
        )
    return out


async def apply(conn: asyncpg.Connection, handle: Apply, events: Sequence[Envelope]) -> float:
    """Apply one batch in a transaction; the handler's process CPU seconds."""
    async with conn.transaction():
        tx = Tx(conn=conn, namespace="bench_", inputs={e.id: e for e in events})
        began = time.process_time()
        await handle(tx, events)
        return time.process_time() - began


STATE = {
    "deliveries": """SELECT delivery_id, event_id, event_type, customer_id, kind, channel,
                            address, role, recipient_name, message, group_key, members,
                            status, attempts, follows, source_time,
                            CASE WHEN group_key IS NULL THEN due_at END AS due_at
                     FROM deliveries ORDER BY delivery_id""",
    "incidents": "SELECT * FROM incidents ORDER BY customer_id, incident_id",
    "incident_audience": """SELECT * FROM incident_audience
                            ORDER BY customer_id, incident_id, channel, address""",
}


async def identical(before: asyncpg.Connection, after: asyncpg.Connection) -> bool:
    """The two variants left the same state (a grouped delivery's due time is the
    transaction's time plus the window: not compared)."""
    same = True
    for table, query in STATE.items():
        old = [tuple(r) for r in await before.fetch(query)]
        new = [tuple(r) for r in await after.fetch(query)]
        if old != new:
            print(f"{table}: {len(old)} rows before, {len(new)} after; they differ")
            for o, n in zip(old, new, strict=False):
                if o != n:
                    print([(a, b) for a, b in zip(o, n, strict=True) if a != b][:3])
                    break
            same = False
    return same


async def main(
    db: str, rounds: int, batches: int, batch: int, revision: str, profile: bool
) -> None:
    directory = ContactDirectory(
        roles={
            "service_desk_lead": [
                Contact(name="Desk", email="desk@msp.example", webhook_url="https://h/desk")
            ],
            "on_call_engineer": [
                Contact(name="On call", email="oncall@msp.example", webhook_url="https://h/oc")
            ],
        }
    )
    settings = NotifySettings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
        DATABASE_URL=db,
        notify_directory=directory,
        event_log_level="WARNING",
        group_window_s=3600,  # every group stays open: both variants group alike
    )
    variants = {"before": before(revision, settings), "after": after(settings)}
    meter = CpuMeter(None, None, listener_pid(port_of(db)))
    conns = {}
    for name in variants:
        schema = f"bench_{name}_{uuid.uuid4().hex[:6]}"
        await migrate(db, schema=schema, package="notify")
        conns[name] = await asyncpg.connect(db, server_settings={"search_path": schema})
    contracts = [  # each customer's contract: its people are told of incidents
        make_event(
            ContractSnapshot(
                contract_id=f"ctr-{c}",
                versions=[sample_contract_version().model_copy(update={"contacts": directory})],
            ),
            customer_id=f"cust-{c:03d}",
            source="/crm",
            time=T0 - timedelta(days=1),
            id=f"contract-{c}",
        )
        for c in range(CUSTOMERS)
    ]
    for name, handle in variants.items():
        await apply(conns[name], handle, contracts)
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in range(rounds):
        for work in WORKLOADS:
            stream = [workload(work, (r * batches + b) * batch, batch) for b in range(batches)]
            for name, handle in variants.items():  # interleaved: same load, same minute
                cpu = pg = 0.0
                for events in stream:
                    start = meter.sample()
                    cpu += await apply(conns[name], handle, events)
                    pg += meter.seconds(start, meter.sample())["postgres"]
                n = batches * batch
                figures.setdefault((work, name), []).append((cpu / n * 1e6, pg / n * 1e6))
    same = await identical(conns["before"], conns["after"])
    if profile:  # one more round of every workload per variant, under cProfile
        for name, handle in variants.items():
            profiler = cProfile.Profile(time.process_time)
            applied = 0
            for work in WORKLOADS:
                for b in range(batches):
                    some = workload(work, ((rounds + 1) * batches + b) * batch, batch)
                    applied += len(some)
                    profiler.enable()
                    await apply(conns[name], handle, some)
                    profiler.disable()
            print(f"\n== {name}: {applied} events, cumulative process CPU by function ==")
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(r"notify|consumer\.py|rules|asyncpg/connection|json|pydantic", 30)
    for conn in conns.values():
        await conn.close()
    print("state identical before/after (deliveries, incidents, audiences):", same)
    print(f"µs CPU per event (median of {rounds} rounds, {batches} batches of {batch})")
    print(f"{'workload':<10} {'before py':>10} {'after py':>10} {'before pg':>10} {'after pg':>10}")
    for work in WORKLOADS:
        old, new = figures[(work, "before")], figures[(work, "after")]
        print(
            f"{work:<10} {median(x for x, _ in old):>10.0f} {median(x for x, _ in new):>10.0f}"
            f" {median(y for _, y in old):>10.0f} {median(y for _, y in new):>10.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--before", default="abdca22", help="git revision measured as before")
    parser.add_argument("--profile", action="store_true", help="and a cProfile per variant")
    args = parser.parse_args()
    from msp_devstack.postgres import LocalPostgres

    with tempfile.TemporaryDirectory(prefix="msp-bench-notify-consume-") as scratch:
        Path(scratch).chmod(0o755)  # the non-root postgres user must reach its data dir
        with LocalPostgres(Path(scratch) / "pg") as postgres:
            asyncio.run(
                main(
                    postgres.database_url,
                    args.rounds,
                    args.batches,
                    args.batch,
                    args.before,
                    args.profile,
                )
            )
