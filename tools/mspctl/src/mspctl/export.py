"""`mspctl export CUSTOMER --out DIR`: everything we hold about one customer (the exit
strategy, seed 003): their records from every topic, every row with their id from every
service schema, and a manifest.

    DIR/topics/<topic>.ndjson          the customer's records (all keyed by customer id;
                                       the dead-letter topic by the original key), as sent
    DIR/tables/<service schema>/<table>.json   rows as JSON (via Postgres to_jsonb)
    DIR/manifest.json                  counts, time, event types and versions, schema
                                       migration versions, what was left out and why

Tables without a customer column are exported through the parent row that has one
(e.g. incident_alerts by incident_id); bookkeeping tables (offsets, processed ids,
migrations, the event clock) hold no customer data and are listed as skipped. API key
hashes are never exported.

Who may export: `data:export` (admins, and a customer for itself). A credential bound to
some customers exports only those: any other id is refused from the credential's scope
alone, before anything is read, so the answer says nothing about whether that customer
exists. Each export is in the audit log (`export`).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer

from msp_access.roles import Permission
from msp_events.topics import TOPICS
from mspctl.common import fail, load_settings
from mspctl.kafka_io import TopicMissing, records
from mspctl.operator import audited, operator
from mspctl.pg import connect, schema_exists
from mspctl.settings import CtlSettings

SERVICE_SCHEMAS = ("access", "ingest", "incidents", "sla_clock", "billing")
BOOKKEEPING = {"consumer_offsets", "processed_events", "schema_migrations", "event_clock"}
SECRET_COLUMNS = ("key_hash",)


async def export_topics(
    settings: CtlSettings, customer: str, out: Path, manifest: dict[str, Any]
) -> None:
    key = customer.encode()
    folder = out / "topics"
    folder.mkdir(parents=True, exist_ok=True)
    types: Counter[str] = Counter()
    for topic in TOPICS:
        count = 0
        path = folder / f"{topic.name}.ndjson"
        with path.open("w", encoding="utf-8") as fh:
            try:
                async for record in records(
                    settings.kafka_bootstrap_servers, settings.topic(topic.name)
                ):
                    if record.key != key or record.value is None:
                        continue
                    line, etype = _record_line(record.value)
                    fh.write(line + "\n")
                    count += 1
                    if etype:
                        types[etype] += 1
            except TopicMissing:
                manifest["skipped"].append(f"topic {topic.name}: not on the broker")
        manifest["topics"][topic.name] = {"records": count, "file": f"topics/{path.name}"}
    manifest["event_types"] = dict(sorted(types.items()))


def _record_line(value: bytes) -> tuple[str, str | None]:
    """The record as one JSON line, byte-faithful where it is JSON; else base64."""
    try:
        obj = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return json.dumps({"undecodable_value_b64": base64.b64encode(value).decode()}), None
    etype = obj.get("type") if isinstance(obj, dict) else None
    return json.dumps(obj, separators=(",", ":")), etype if isinstance(etype, str) else None


async def _columns(conn: asyncpg.Connection, schema: str) -> dict[str, set[str]]:
    rows = await conn.fetch(
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'""",
        schema,
    )
    tables: dict[str, set[str]] = {}
    for r in rows:
        tables.setdefault(r["table_name"], set()).add(r["column_name"])
    return tables


def _selection(table: str, columns: set[str], tables: dict[str, set[str]]) -> str | None:
    """The WHERE clause picking the customer's rows ($1 = customer id), or None."""
    if "customer_id" in columns:
        return "customer_id = $1"
    if "customer_ids" in columns:
        return "$1 = ANY(customer_ids)"
    if table == "outbox":  # outputs not yet pruned; keyed by customer id
        return "key = convert_to($1, 'UTF8')"
    for column in sorted(c for c in columns if c.endswith("_id")):
        for parent, parent_columns in sorted(tables.items()):
            if parent != table and {column, "customer_id"} <= parent_columns:
                parent_rows = f'SELECT {column} FROM "{{schema}}"."{parent}" WHERE customer_id = $1'
                return f"{column} IN ({parent_rows})"
    return None


async def export_tables(
    settings: CtlSettings, customer: str, out: Path, manifest: dict[str, Any]
) -> None:
    conn = await connect(settings)
    try:
        for base in SERVICE_SCHEMAS:
            schema = settings.schema_of(base)
            if not await schema_exists(conn, schema):
                manifest["skipped"].append(f"schema {schema}: does not exist")
                continue
            tables = await _columns(conn, schema)
            if "schema_migrations" in tables:
                manifest["schema_versions"][schema] = [
                    f"{r['source']}:{r['version']:04d}_{r['name']}"
                    for r in await conn.fetch(
                        f'SELECT source, version, name FROM "{schema}".schema_migrations '
                        "ORDER BY source, version"
                    )
                ]
            folder = out / "tables" / schema
            folder.mkdir(parents=True, exist_ok=True)
            for table, columns in sorted(tables.items()):
                if table in BOOKKEEPING:
                    manifest["skipped"].append(f"{schema}.{table}: bookkeeping, no customer data")
                    continue
                where = _selection(table, columns, tables)
                if where is None:
                    manifest["skipped"].append(f"{schema}.{table}: no customer column")
                    continue
                hidden = "".join(f" - '{c}'" for c in SECRET_COLUMNS if c in columns)
                rows = await conn.fetch(
                    f'SELECT to_jsonb(t){hidden} AS row FROM "{schema}"."{table}" t '
                    f"WHERE {where.format(schema=schema)}",
                    customer,
                )
                data = [json.loads(r["row"]) for r in rows]
                (folder / f"{table}.json").write_text(json.dumps(data, indent=1, default=str))
                manifest["tables"][f"{schema}.{table}"] = {
                    "rows": len(data),
                    "file": f"tables/{schema}/{table}.json",
                }
    finally:
        await conn.close()


def export(
    customer: Annotated[str, typer.Argument(help="the customer id")],
    out: Annotated[Path, typer.Option("--out", help="folder to write (created; must be empty)")],
) -> None:
    """Export everything held about one customer: topic records, database rows, manifest.

    Examples:

      mspctl export cust-acme --out exports/cust-acme-2026-03-31

      mspctl export cust-acme --out /tmp/acme && jq . /tmp/acme/manifest.json
    """
    settings = load_settings()
    if out.exists() and any(out.iterdir()):
        fail(f"--out: {out} is not empty (an export never mixes with older files)", code=2)

    async def authorize() -> None:
        conn = await connect(settings)
        try:
            actor = await operator(settings, conn, Permission.DATA_EXPORT)
            if not actor.sees(customer):
                fail(
                    f"CUSTOMER: {customer!r} is not among the customers of this credential",
                    code=2,
                )
            await audited(settings, conn, actor, "export", customer_id=customer)
        finally:
            await conn.close()

    try:
        asyncio.run(authorize())
    except (ConnectionError, asyncpg.PostgresError) as exc:
        fail(f"export failed: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "customer_id": customer,
        "generated_at": datetime.now(UTC).isoformat(),
        "topic_namespace": settings.topic_namespace,
        "topics": {},
        "tables": {},
        "schema_versions": {},
        "skipped": [],
    }

    async def go() -> None:
        await export_topics(settings, customer, out, manifest)
        await export_tables(settings, customer, out, manifest)

    try:
        asyncio.run(go())
    except (ConnectionError, asyncpg.PostgresError) as exc:
        fail(f"export failed: {exc}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    records_total = sum(t["records"] for t in manifest["topics"].values())
    rows_total = sum(t["rows"] for t in manifest["tables"].values())
    typer.echo(
        f"exported {customer}: {records_total} topic record(s) from {len(manifest['topics'])} "
        f"topics, {rows_total} row(s) from {len(manifest['tables'])} tables -> {out}"
    )
