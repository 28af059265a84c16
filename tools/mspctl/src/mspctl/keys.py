"""`mspctl keys ...`: API keys of every service, with the access library's functions
(`msp_access.apikeys`) on the shared access schema. A key has roles (its scopes) and is
bound to customers or to all. The pepper must be the services' (`MSP_API_KEY_PEPPER`),
or new keys will not verify. A secret is printed once, at creation; only its HMAC is
stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import asyncpg
import typer

from msp_access.apikeys import (
    IDENTIFIER,
    LABEL,
    ApiKey,
    KeyError_,
    create_key,
    list_keys,
    revoke_key,
)
from msp_access.labels import LabelNames
from msp_access.roles import ROLE_PERMISSIONS, Permission
from mspctl.common import fail, load_settings, print_table
from mspctl.operator import audited, operator
from mspctl.pg import connect
from mspctl.settings import CtlSettings

app = typer.Typer(
    help="API keys (machines): create, list, revoke, rotate; scoped by roles and customers.",
    epilog="Examples: mspctl keys create --source psa --customer cust-acme;  "
    "mspctl keys rotate KEY_ID",
)
T = TypeVar("T")


def _run(settings: CtlSettings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def go() -> T:
        conn = await connect(settings)
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except KeyError_ as exc:
        fail(str(exc), code=2)
    except (ConnectionError, asyncpg.PostgresError) as exc:
        fail(str(exc), code=2)


def _public(key: ApiKey) -> dict[str, Any]:
    return key.public()


@app.command("create")
def create(
    source: Annotated[str, typer.Option(help="the calling system, e.g. alertmanager-prod")],
    customer: Annotated[
        list[str] | None, typer.Option(help="customer id the key is bound to (repeat)")
    ] = None,
    all_customers: Annotated[
        bool, typer.Option("--all-customers", help="bound to every customer")
    ] = False,
    role: Annotated[
        list[str] | None,
        typer.Option(help=f"role (repeat; default publisher): {', '.join(ROLE_PERMISSIONS)}"),
    ] = None,
    label_customer: Annotated[
        str, typer.Option(help="alert label with the customer")
    ] = LabelNames.customer,
    label_device: Annotated[
        str, typer.Option(help="alert label with the device")
    ] = LabelNames.device,
    label_site: Annotated[str, typer.Option(help="alert label with the site")] = LabelNames.site,
    label_check_kind: Annotated[
        str, typer.Option(help="label with the check")
    ] = LabelNames.check_kind,
) -> None:
    """Create an API key; its secret is printed once (JSON: key_id, key, source, roles,
    customers).

    Examples:

      mspctl keys create --source alertmanager-prod --customer cust-acme

      mspctl keys create --source psa --customer cust-acme --customer cust-beta

      mspctl keys create --source finance-robot --all-customers --role billing
    """
    customer = customer or []
    for option, value in [("--source", source)] + [("--customer", c) for c in customer]:
        if not IDENTIFIER.match(value):
            fail(f"{option}: {value!r} is not a valid id ([A-Za-z0-9._:@/-])", code=2)
    labels = LabelNames(label_customer, label_device, label_site, label_check_kind)
    for option, value in zip(
        ("--label-customer", "--label-device", "--label-site", "--label-check-kind"),
        asdict(labels).values(),
        strict=True,
    ):
        if not LABEL.match(value):
            fail(f"{option}: {value!r} is not a valid label name", code=2)
    if not customer and not all_customers:
        fail("--customer: give at least one customer, or --all-customers", code=2)
    settings = load_settings()
    pepper = settings.api_key_pepper.get_secret_value()

    async def work(conn: asyncpg.Connection) -> tuple[ApiKey, str]:
        actor = await operator(settings, conn, Permission.KEYS_MANAGE)
        async with conn.transaction():
            made = await create_key(
                conn,
                schema=settings.schema_of("access"),
                pepper=pepper,
                source=source,
                customer_ids=customer,
                all_customers=all_customers,
                roles=role or ["publisher"],
                labels=labels,
                created_by=actor.subject,
            )
            key_id = made[0].key_id
            await audited(settings, conn, actor, "key_create", object_id=key_id)
        return made

    key, secret = _run(settings, work)
    typer.echo(json.dumps({**_public(key), "key": secret}))


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per key")] = False,
    all_keys: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List API keys (never their secrets).

    Examples:

      mspctl keys list

      mspctl keys list --all --json
    """
    settings = load_settings()

    async def work(conn: asyncpg.Connection) -> list[ApiKey]:
        return await list_keys(conn, schema=settings.schema_of("access"))

    keys = [_public(k) for k in _run(settings, work) if all_keys or k.revoked_at is None]
    if as_json:
        for k in keys:
            typer.echo(json.dumps(k))
    else:
        print_table(keys, ("key_id", "source", "roles", "customer_ids", "created_at", "revoked_at"))


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key id (from `mspctl keys list`)")],
) -> None:
    """Revoke a key (every service stops accepting it within its auth cache TTL, 5 s).

    Example:

      mspctl keys revoke 3f9a1c2b7d10
    """
    settings = load_settings()

    async def work(conn: asyncpg.Connection) -> bool:
        actor = await operator(settings, conn, Permission.KEYS_MANAGE)
        async with conn.transaction():
            done = await revoke_key(conn, schema=settings.schema_of("access"), key_id=key_id)
            if done:
                await audited(settings, conn, actor, "key_revoke", object_id=key_id)
        return done

    if not _run(settings, work):
        fail(f"key_id: no active key {key_id!r}")
    typer.echo(json.dumps({"key_id": key_id, "revoked": True}))


@app.command("rotate")
def rotate(key_id: Annotated[str, typer.Argument(help="the active key to replace")]) -> None:
    """Replace a key: a new key with the same source, roles, customers and labels; the old one is
    revoked in the same transaction. The new secret is printed once.

    Example:

      mspctl keys rotate 3f9a1c2b7d10
    """
    settings = load_settings()
    pepper = settings.api_key_pepper.get_secret_value()

    async def work(conn: asyncpg.Connection) -> tuple[ApiKey, str] | None:
        actor = await operator(settings, conn, Permission.KEYS_MANAGE)
        async with conn.transaction():
            keys = await list_keys(conn, schema=settings.schema_of("access"))
            old = next((k for k in keys if k.key_id == key_id), None)
            if old is None or old.revoked_at is not None:
                return None
            new = await create_key(
                conn,
                schema=settings.schema_of("access"),
                pepper=pepper,
                source=old.source,
                customer_ids=sorted(old.customer_ids),
                all_customers=old.all_customers,
                roles=sorted(old.roles),
                labels=old.labels,
                created_by=actor.subject,
            )
            replaced = {"replaced_by": new[0].key_id}
            await audited(settings, conn, actor, "key_rotate", object_id=key_id, details=replaced)
            if not await revoke_key(
                conn, schema=settings.schema_of("access"), key_id=key_id
            ):  # revoked meanwhile: roll back
                raise asyncpg.PostgresError(f"key {key_id} was revoked concurrently")
            return new

    rotated = _run(settings, work)
    if rotated is None:
        fail(f"key_id: no active key {key_id!r}")
    key, secret = rotated
    typer.echo(json.dumps({**_public(key), "key": secret, "replaces": key_id}))
