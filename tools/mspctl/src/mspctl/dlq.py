"""`mspctl dlq list|replay`: the dead-letter topic, and replaying it after a fix.

Replay republishes each dead letter's original bytes (key, value, headers) to its
original topic. Replay progress is a marker per *original record* (topic, partition,
offset) in mspctl's own Postgres schema (`<prefix>mspctl.dlq_replays`): the marker is
inserted in a transaction held open until Kafka acknowledged the record, so a second
replay never republishes a record already replayed, and a failed publish leaves no
marker. (A crash between Kafka's ack and the commit can republish that one record on the
next run: the event id is unchanged, so consumers drop it as a duplicate.) Keying by the
original record also means that when several services dead-lettered the same record it
is replayed once; if a replayed record fails again, its new dead letter names the new
offset and can be replayed after the next fix.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import typer

from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_events import EventValidationError, decode
from msp_events.types.deadletter import DeadLetterRecorded
from mspctl.common import fail, load_settings, print_table
from mspctl.kafka_io import TopicMissing, produce, records
from mspctl.operator import audited, operator
from mspctl.pg import connect, schema_exists
from mspctl.settings import CtlSettings

app = typer.Typer(
    help="The dead-letter topic: list dead letters, replay them after a fix.",
    epilog="Examples: mspctl dlq list --topic msp.tickets.v1;  mspctl dlq replay --dry-run",
)

MARKERS_SQL = """
CREATE TABLE IF NOT EXISTS dlq_replays (
    original_topic     text        NOT NULL,
    original_partition integer     NOT NULL,
    original_offset    bigint      NOT NULL,
    dead_letter_id     text        NOT NULL,
    replayed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (original_topic, original_partition, original_offset)
)"""


@dataclass(frozen=True)
class DeadLetter:
    id: str
    customer_id: str
    data: DeadLetterRecorded
    offset: int

    @property
    def origin(self) -> tuple[str, int, int]:
        d = self.data
        return d.original_topic, d.original_partition, d.original_offset


async def read_dead_letters(
    settings: CtlSettings, *, topic: str | None, reason: str | None, customer: str | None
) -> list[DeadLetter]:
    found = []
    async for record in records(settings.kafka_bootstrap_servers, settings.topic(DLQ_NAME)):
        try:
            event = decode(record.value or b"")
        except EventValidationError:
            continue  # not ours to replay: the dead-letter topic only carries dead letters
        if not isinstance(event.data, DeadLetterRecorded):
            continue
        data = event.data
        if topic and data.original_topic not in (topic, settings.topic(topic)):
            continue
        if reason and reason.lower() not in data.reason.lower():
            continue
        if customer and event.customer_id != customer:
            continue
        found.append(DeadLetter(event.id, event.customer_id, data, record.offset))
    return found


DLQ_NAME = "msp.deadletter.v1"


async def _replayed(settings: CtlSettings) -> set[tuple[str, int, int]]:
    conn = await connect(settings)
    try:
        schema = settings.schema_of("mspctl")
        if not await schema_exists(conn, schema):
            return set()
        exists = await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".dlq_replays')
        if exists is None:
            return set()
        rows = await conn.fetch(
            "SELECT original_topic, original_partition, original_offset "
            f'FROM "{schema}".dlq_replays'
        )
        return {(r[0], r[1], r[2]) for r in rows}
    finally:
        await conn.close()


TopicOpt = Annotated[
    str | None, typer.Option("--topic", help="only dead letters of this original topic")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="only reasons containing this")]
CustomerOpt = Annotated[str | None, typer.Option("--customer", help="only this customer")]


@app.command("list")
def list_(
    topic: TopicOpt = None,
    reason: ReasonOpt = None,
    customer: CustomerOpt = None,
) -> None:
    """List dead letters: original topic/offset, the service that rejected it, the reason,
    and whether it was replayed.

    Examples:

      mspctl dlq list

      mspctl dlq list --topic msp.tickets.v1 --reason priority
    """
    settings = load_settings()

    async def go() -> tuple[list[DeadLetter], set[tuple[str, int, int]]]:
        return (
            await read_dead_letters(settings, topic=topic, reason=reason, customer=customer),
            await _replayed(settings),
        )

    try:
        letters, done = asyncio.run(go())
    except (TopicMissing, ConnectionError) as exc:
        fail(str(exc))
    rows = [
        {
            "offset": d.offset,
            "customer": d.customer_id,
            "original": f"{d.data.original_topic}[{d.data.original_partition}]@"
            f"{d.data.original_offset}",
            "service": d.data.service,
            "replayed": "yes" if d.origin in done else "no",
            "reason": d.data.reason[:120],
        }
        for d in letters
    ]
    print_table(rows, ("offset", "customer", "original", "service", "replayed", "reason"))


@app.command("replay")
def replay(
    topic: TopicOpt = None,
    reason: ReasonOpt = None,
    customer: CustomerOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be replayed")] = False,
) -> None:
    """Republish dead letters' original bytes to their original topics (after a fix).
    Each original record is replayed at most once, however often this runs.

    Examples:

      mspctl dlq replay --dry-run

      mspctl dlq replay --topic msp.raw.tickets.v1 --reason "contract"
    """
    settings = load_settings()

    async def go() -> tuple[int, int]:
        letters = await read_dead_letters(settings, topic=topic, reason=reason, customer=customer)
        done = await _replayed(settings)
        todo, skipped, seen = [], 0, set()
        for d in letters:
            if d.origin in done or d.origin in seen:
                skipped += 1
                continue
            seen.add(d.origin)
            todo.append(d)
        if dry_run:
            for d in todo:
                typer.echo(f"would replay {_describe(d)}")
            return len(todo), skipped
        replayed = 0
        conn = await connect(settings)
        try:
            schema = settings.schema_of("mspctl")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}"')
            await conn.execute(MARKERS_SQL)
            actor = await operator(settings, conn, Permission.OPS_REBUILD)
            for d in todo:
                if await _replay_one(settings, conn, d, actor):
                    replayed += 1
                    typer.echo(f"replayed {_describe(d)}")
                else:
                    skipped += 1
        finally:
            await conn.close()
        return replayed, skipped

    try:
        replayed, skipped = asyncio.run(go())
    except (TopicMissing, ConnectionError, asyncpg.PostgresError) as exc:
        fail(str(exc))
    verb = "would replay" if dry_run else "replayed"
    typer.echo(f"{verb} {replayed} dead letter(s); {skipped} already replayed, skipped")


async def _replay_one(
    settings: CtlSettings, conn: asyncpg.Connection, d: DeadLetter, actor: Principal
) -> bool:
    """Claim the original record, publish it, commit the claim only after Kafka's ack."""
    data = d.data
    async with conn.transaction():
        claimed = await conn.fetchval(
            """INSERT INTO dlq_replays (original_topic, original_partition, original_offset,
                                        dead_letter_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
            *d.origin,
            d.id,
        )
        if not claimed:  # another replay got there first
            return False
        t, p, o = d.origin
        await audited(
            settings,
            conn,
            actor,
            "dlq_replay",
            object_id=d.id,
            customer_id=d.customer_id,
            details={"topic": t, "partition": p, "offset": o},
        )
        headers = [(k, base64.b64decode(v)) for k, v in (data.original_headers or {}).items()]
        await produce(
            settings.kafka_bootstrap_servers,
            data.original_topic,
            data.original_key(),
            data.original_value(),
            headers,
        )
    return True


def _describe(d: DeadLetter) -> str:
    t, p, o = d.origin
    return f"{t}[{p}]@{o} (customer {d.customer_id}, rejected by {d.data.service})"
