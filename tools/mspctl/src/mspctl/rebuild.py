"""`mspctl rebuild SERVICE`: disaster recovery, a service's state rebuilt from the topics.

Every consumer keeps its offsets in its own schema (`consumer_offsets`, written with the
state), and seeks to the beginning of a partition it has no offset for. So a fresh
schema makes the service replay its input topics from the start when it next runs;
outputs carry derived ids (`derive_event_id`), so what it emits again is the same events
with the same ids, which downstream consumers drop as duplicates. The old schema is kept
(renamed `<schema>_rb<UTC timestamp>`) unless `--drop-old`.

Per service:
- sla-clock: schema only. Inputs: tickets, incidents, contracts (kept forever).
- billing: schema only. Inputs: contracts, change orders, tickets (kept forever). Invoice
  runs, credit notes and reclassifications are API calls, not topics: the rebuild prints
  the invoice runs to repeat (same period, customer and issue time, hence the same
  invoice ids and totals), and refuses without `--force` when the old state holds credit
  notes or people's reclassifications (those would have to be redone by hand).
- incidents: schema only (triage state, projection, triage log, outbox). Its input
  `msp.monitoring.v1` is kept 7 days only: a rebuild reproduces incidents whose alerts
  are still on the topic.
- ingest: refused. Its state (API keys, accepted-id claims) is not derived from any
  topic; restore it from a database backup instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import asyncpg
import typer
from aiokafka.errors import KafkaError

from msp_access.roles import Permission
from msp_events import decode
from msp_events.topics import BILLING_LINE_ITEMS, TOPICS
from msp_events.types.billing import LineItemReclassified
from msp_plumbing.migrations import migrate
from mspctl.common import answers, fail, load_settings
from mspctl.kafka_io import TopicMissing, records
from mspctl.operator import audited, operator
from mspctl.pg import connect, schema_exists
from mspctl.settings import CtlSettings


class Service(StrEnum):
    sla_clock = "sla-clock"
    billing = "billing"
    incidents = "incidents"
    ingest = "ingest"


# service -> (base schema, package holding its migrations)
SCHEMAS = {"sla-clock": "sla_clock", "billing": "billing", "incidents": "incidents"}
INPUTS = {
    "sla-clock": ("msp.tickets.v1", "msp.incidents.v1", "msp.contracts.v1"),
    "billing": ("msp.contracts.v1", "msp.change-orders.v1", "msp.tickets.v1"),
    "incidents": ("msp.monitoring.v1", "msp.contracts.v1"),
}


@dataclass
class Plan:
    """What a rebuild did, and what the operator does next."""

    done: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def retention_notes(service: str) -> list[str]:
    notes = []
    by_name = {t.name: t for t in TOPICS}
    for name in INPUTS[service]:
        ms = by_name[name].retention_ms
        if ms >= 0:
            notes.append(
                f"{name} keeps records {ms / 86_400_000:g} days: state that came from older "
                "records is not rebuilt"
            )
    return notes


async def billing_manual_state(
    settings: CtlSettings, conn: asyncpg.Connection, schema: str
) -> tuple[list[asyncpg.Record], int, int]:
    """(closed periods with their invoice's issue time, credit notes, people's
    reclassifications): what billing holds from API calls rather than topics."""
    closed = await conn.fetch(
        f"""SELECT c.customer_id, c.period, c.closed_at, i.issued_at
            FROM "{schema}".closed_periods c LEFT JOIN "{schema}".invoices i
                 ON i.customer_id = c.customer_id AND i.period = c.period
            ORDER BY c.period, c.customer_id"""
    )
    credit_notes = int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".credit_notes'))
    manual = 0
    try:
        async for record in records(
            settings.kafka_bootstrap_servers, settings.topic(BILLING_LINE_ITEMS.name)
        ):
            event = decode(record.value or b"")
            data = event.data
            if isinstance(data, LineItemReclassified) and not (
                data.reclassified_by.startswith("change-order:") or data.credit_note_id
            ):
                manual += 1
    except TopicMissing:
        pass
    return list(closed), credit_notes, manual


def invoice_run_commands(closed: list[asyncpg.Record]) -> list[str]:
    """One `mspctl invoice run` per (period, issue time): the same issue time gives the
    same invoice (its id is derived from customer and period; its lines from the work)."""
    runs: dict[tuple[str, datetime], list[str]] = {}
    for row in closed:
        at = row["issued_at"] or row["closed_at"]
        runs.setdefault((row["period"], at), []).append(row["customer_id"])
    commands = []
    for (period, at), customers in sorted(runs.items()):
        as_of = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for customer in sorted(customers):
            commands.append(
                f"mspctl invoice run --period {period} --customer {customer} --as-of {as_of}"
            )
    return commands


def rebuild(
    service: Annotated[Service, typer.Argument(help="sla-clock, billing or incidents")],
    force: Annotated[
        bool,
        typer.Option("--force", help="skip the checks (service still answering, manual state)"),
    ] = False,
    drop_old: Annotated[
        bool, typer.Option("--drop-old", help="drop the old schema instead of keeping it renamed")
    ] = False,
) -> None:
    """Rebuild a stopped service's state from the topics (disaster recovery).

    Resets the service's state (a fresh schema); the service then replays its inputs
    when restarted.

    Examples:

      mspctl rebuild sla-clock

      mspctl rebuild billing --drop-old

      mspctl rebuild incidents
    """
    if service is Service.ingest:
        fail(
            "ingest cannot be rebuilt from the topics: its state (API keys and the "
            "accepted-id claims that stop re-posted events being published twice) is not "
            "on any topic. Restore the ingest schema from a database backup instead.",
            code=2,
        )
    name = service.value
    settings = load_settings()
    url = settings.service_url(name)
    if not force and answers(url + "/healthz"):
        fail(
            f"{name} is still answering at {url}: stop every instance of it first "
            f"(or --force if that address is not this deployment's {name})"
        )
    try:
        plan = Plan()
        asyncio.run(_rebuild(settings, name, plan, force=force, drop_old=drop_old))
    except (ConnectionError, asyncpg.PostgresError, KafkaError, OSError) as exc:
        fail(f"rebuild of {name} failed: {exc}")
    except RefusedError as exc:
        fail(str(exc))
    typer.echo(f"rebuild {name}:")
    for line in plan.done:
        typer.echo(f"  done: {line}")
    for line in plan.warnings:
        typer.echo(f"  note: {line}")
    typer.echo("next:")
    typer.echo(f"  1. start {name}; it replays {', '.join(INPUTS[name])} from the beginning")
    typer.echo(
        f"  2. wait until it caught up: msp_consumer_lag_records on {url}/metrics is 0"
        + (" and GET /v1/triage-log stops growing" if name == "incidents" else "")
    )
    for i, step in enumerate(plan.next_steps, start=3):
        typer.echo(f"  {i}. {step}")


class RefusedError(RuntimeError):
    pass


async def _rebuild(
    settings: CtlSettings, name: str, plan: Plan, *, force: bool, drop_old: bool
) -> None:
    plan.warnings.extend(retention_notes(name))
    schema = settings.schema_of(SCHEMAS[name])
    conn = await connect(settings)
    try:
        if not await schema_exists(conn, schema):
            raise RefusedError(f"schema {schema!r} does not exist (MSPCTL_SCHEMA_PREFIX?)")
        actor = await operator(settings, conn, Permission.OPS_REBUILD)
        await audited(
            settings,
            conn,
            actor,
            "rebuild",
            object_id=name,
            details={"force": force, "drop_old": drop_old},
        )
        if name == "billing":
            closed, credit_notes, manual = await billing_manual_state(settings, conn, schema)
            if (credit_notes or manual) and not force:
                raise RefusedError(
                    f"billing holds {credit_notes} credit note(s) and {manual} reclassification(s) "
                    "made by people through the API; they are on the billing topics but "
                    "billing does not consume its own outputs, so a rebuild loses them. "
                    "Use --force and redo them by hand afterwards."
                )
            if credit_notes or manual:
                plan.warnings.append(
                    f"{credit_notes} credit note(s) and {manual} manual reclassification(s) "
                    "must be redone by hand (see the old schema)"
                )
            commands = invoice_run_commands(closed)
            if commands:
                plan.next_steps.append(
                    "repeat the invoice runs (same issue time = same invoices):\n       "
                    + "\n       ".join(commands)
                )
        if drop_old:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            plan.done.append(f"dropped schema {schema}")
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
            backup = f"{schema}_rb{stamp}"[:63]
            await conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{backup}"')
            plan.done.append(f"kept the old state as schema {backup}")
            plan.next_steps.append(f'once satisfied: DROP SCHEMA "{backup}" CASCADE')
    finally:
        await conn.close()
    applied = await migrate(settings.database_url, schema=schema, package=SCHEMAS[name])
    plan.done.append(f"created schema {schema} afresh ({len(applied)} migrations)")
