"""Versioned plain-SQL migrations, one Postgres schema per service.

Each service owns a schema (``billing``, ``sla_clock``...) and keeps its migrations as
``<package>/migrations/NNNN_description.sql``. The plumbing's own tables (offsets,
processed events, outbox) are applied first into the same schema. Migrations run as
their own step (``python -m msp_plumbing.migrations --schema S --package P``), never
at import or service start-up. An already-applied file whose text changed is an
error: fix forward with a new file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    source: str  # "plumbing" or the service package
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.source}:{self.version:04d}_{self.name}"


def check_schema_name(schema: str) -> str:
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"schema: {schema!r} is not a valid lower-case SQL identifier")
    return schema


def load_migrations(package: str, folder: str) -> list[Migration]:
    """Read ``package/folder/NNNN_name.sql`` files in version order."""
    root = resources.files(package).joinpath(folder)
    if not root.is_dir():
        return []
    found: list[Migration] = []
    for entry in root.iterdir():
        match = FILE_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(package, int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{package}/{folder}: duplicate migration version in {versions}")
    return found


LIBRARY_SCHEMAS = frozenset({"msp_access"})
"""Packages whose schema is a library's shared tables (the access schema's keys and audit
log), not a service's: they get no plumbing tables (offsets, outbox)."""


def migrations_for(package: str | None) -> list[Migration]:
    if package in LIBRARY_SCHEMAS:
        return load_migrations(package, "migrations")
    plumbing = [
        Migration("plumbing", m.version, m.name, m.sql)
        for m in load_migrations("msp_plumbing", "sql")
    ]
    return plumbing + (load_migrations(package, "migrations") if package else [])


async def migrate(database_url: str, *, schema: str, package: str | None = None) -> list[str]:
    """Bring `schema` up to date; returns the labels of the migrations applied now.
    Safe to run concurrently (an advisory lock serialises runners) and repeatedly."""
    check_schema_name(schema)
    wanted = migrations_for(package)
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET LOCAL search_path TO "{schema}"')
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       source text NOT NULL, version integer NOT NULL, name text NOT NULL,
                       checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (source, version))"""
            )
            rows = await conn.fetch("SELECT source, version, checksum FROM schema_migrations")
            applied = {(r["source"], r["version"]): r["checksum"] for r in rows}
            done: list[str] = []
            for m in wanted:
                previous = applied.get((m.source, m.version))
                if previous is not None:
                    if previous != m.checksum:
                        raise RuntimeError(
                            f"migration {m.label} was changed after it was applied to "
                            f"schema {schema}; add a new migration instead"
                        )
                    continue
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (source, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    m.source,
                    m.version,
                    m.name,
                    m.checksum,
                )
                done.append(m.label)
            return done
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schema", required=True, help="the service's schema, e.g. billing")
    parser.add_argument("--package", help="the service package holding migrations/")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or the DATABASE_URL environment variable is required")
    try:
        check_schema_name(args.schema)
        applied = asyncio.run(migrate(args.database_url, schema=args.schema, package=args.package))
    except ValueError as exc:
        parser.error(f"--{exc}")
    except (OSError, asyncpg.PostgresError, RuntimeError) as exc:
        parser.exit(1, f"migrations for schema {args.schema} failed: {exc}\n")
    print(f"schema {args.schema}: {len(applied)} migration(s) applied {applied}")


if __name__ == "__main__":
    main()
