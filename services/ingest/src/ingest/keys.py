"""`python -m ingest.keys create|list|revoke`: manage API keys.

    python -m ingest.keys create --source alertmanager-prod --customer cust-acme \
        [--customer cust-beta] [--label-customer tenant] [--label-device instance] ...
    python -m ingest.keys list
    python -m ingest.keys revoke <key_id>

Connects with DATABASE_URL and the ingest schema; hashes with MSP_API_KEY_PEPPER (it
must be the service's pepper, or the key will not verify). The key is printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from dataclasses import asdict

import asyncpg

from ingest.apikeys import LabelNames, create_key, list_keys, revoke_key
from ingest.settings import IngestSettings

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,127}$")


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid id ([A-Za-z0-9._:@/-])")
    return value


def _label(value: str) -> str:
    if not LABEL.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid label name")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest.keys", description="Manage API keys")
    sub = p.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--source", required=True, type=_identifier, help="posting system")
    create.add_argument(
        "--customer",
        required=True,
        action="append",
        type=_identifier,
        dest="customers",
        help="customer id the key may post for (repeat for several)",
    )
    defaults = LabelNames()
    for name in ("customer", "device", "site", "check_kind"):
        create.add_argument(
            f"--label-{name.replace('_', '-')}",
            type=_label,
            default=getattr(defaults, name),
            help=f"alert label holding the {name} (default %(default)s)",
        )
    sub.add_parser("list", help="list keys (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", type=_identifier)
    return p


async def run(args: argparse.Namespace, settings: IngestSettings) -> int:
    conn = await asyncpg.connect(
        settings.database_url, server_settings={"search_path": settings.schema_name}
    )
    try:
        if args.command == "create":
            labels = LabelNames(
                args.label_customer, args.label_device, args.label_site, args.label_check_kind
            )
            key, secret = await create_key(
                conn,
                pepper=settings.api_key_pepper.get_secret_value(),
                source=args.source,
                customer_ids=args.customers,
                labels=labels,
            )
            print(
                json.dumps(
                    {
                        "key_id": key.key_id,
                        "key": secret,
                        "source": key.source,
                        "customer_ids": sorted(key.customer_ids),
                    }
                )
            )
        elif args.command == "list":
            for key in await list_keys(conn):
                print(
                    json.dumps(
                        {
                            "key_id": key.key_id,
                            "source": key.source,
                            "customer_ids": sorted(key.customer_ids),
                            "labels": asdict(key.labels),
                            "created_at": key.created_at.isoformat() if key.created_at else None,
                            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
                        }
                    )
                )
        elif not await revoke_key(conn, key_id=args.key_id):
            print(f"key_id: no active key {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(json.dumps({"key_id": args.key_id, "revoked": True}))
    finally:
        await conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = IngestSettings()
    try:
        return asyncio.run(run(args, settings))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"database: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
