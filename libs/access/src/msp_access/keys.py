"""`python -m msp_access.keys create|list|revoke`: manage API keys in the shared access
schema (the bootstrap path: the first operator key is made here, or with `mspctl keys`).

    python -m msp_access.keys create --source alertmanager-prod --customer cust-acme \
        [--customer cust-beta] [--role publisher] [--label-customer tenant] ...
    python -m msp_access.keys create --source ops-robot --all-customers --role admin
    python -m msp_access.keys list
    python -m msp_access.keys revoke <key_id>

Connects with DATABASE_URL to the access schema (MSP_ACCESS_SCHEMA, default
`<MSP_TOPIC_NAMESPACE>access`); hashes with MSP_API_KEY_PEPPER (it must be the
services' pepper, or the key will not verify). The key is printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import asyncpg
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from msp_access.apikeys import (
    IDENTIFIER,
    LABEL,
    KeyError_,
    create_key,
    list_keys,
    revoke_key,
)
from msp_access.labels import LabelNames
from msp_access.roles import ROLE_PERMISSIONS
from msp_access.settings import AccessSettings


class KeysSettings(AccessSettings):
    model_config = SettingsConfigDict(env_prefix="MSP_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:15432/postgres",
        validation_alias=AliasChoices("DATABASE_URL", "MSP_DATABASE_URL"),
    )
    topic_namespace: str = ""

    @property
    def keys_schema(self) -> str:
        return self.access_schema or f"{self.topic_namespace}access"


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid id ([A-Za-z0-9._:@/-])")
    return value


def _label(value: str) -> str:
    if not LABEL.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid label name")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m msp_access.keys", description="Manage API keys")
    sub = p.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--source", required=True, type=_identifier, help="the calling system")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--customer",
        action="append",
        type=_identifier,
        dest="customers",
        help="customer id the key is bound to (repeat for several)",
    )
    scope.add_argument("--all-customers", action="store_true", help="bound to every customer")
    create.add_argument(
        "--role",
        action="append",
        choices=list(ROLE_PERMISSIONS),
        dest="roles",
        help="role of the key (repeat; default publisher)",
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


async def run(args: argparse.Namespace, settings: KeysSettings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        if args.command == "create":
            labels = LabelNames(
                args.label_customer, args.label_device, args.label_site, args.label_check_kind
            )
            key, secret = await create_key(
                conn,
                schema=settings.keys_schema,
                pepper=settings.api_key_pepper.get_secret_value(),
                source=args.source,
                customer_ids=args.customers or [],
                all_customers=args.all_customers,
                roles=args.roles or ["publisher"],
                labels=labels,
                created_by="cli:msp_access.keys",
            )
            print(json.dumps({**key.public(), "key": secret}))
        elif args.command == "list":
            for key in await list_keys(conn, schema=settings.keys_schema):
                print(json.dumps(key.public()))
        elif not await revoke_key(conn, schema=settings.keys_schema, key_id=args.key_id):
            print(f"key_id: no active key {args.key_id!r}", file=sys.stderr)
            return 1
        else:
            print(json.dumps({"key_id": args.key_id, "revoked": True}))
    finally:
        await conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = KeysSettings()
    try:
        return asyncio.run(run(args, settings))
    except KeyError_ as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"database: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
