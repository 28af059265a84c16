"""API keys for machines: who may call, with which roles, for which customers.

A key is `mspk_<key_id>_<secret>` with 256 random bits of secret, so a keyed hash
(HMAC-SHA256 with a pepper held in the settings) is enough: no salt or slow KDF is
needed for high-entropy random keys, and the lookup stays one indexed equality.
The keys live in one table of the shared access schema, so every service verifies the
same keys. Lookups are cached in memory for `auth_cache_ttl_s` (default 5 s) so a
request does not cost a database round trip: that TTL is how long a revoked key may
still work on an instance (the documented revocation latency).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from msp_access.labels import LabelNames
from msp_access.principal import ALL, Principal
from msp_access.roles import ROLE_PERMISSIONS

KEY_PREFIX = "mspk_"
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]{0,127}$")
SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    source: str
    customer_ids: frozenset[str]
    roles: frozenset[str] = frozenset({"publisher"})
    all_customers: bool = False
    labels: LabelNames = field(default_factory=LabelNames)
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def may_post_for(self, customer_id: str) -> bool:
        return self.all_customers or customer_id in self.customer_ids

    @property
    def sole_customer(self) -> str | None:
        """The customer when the key has exactly one (then labels may omit it)."""
        if self.all_customers or len(self.customer_ids) != 1:
            return None
        return next(iter(self.customer_ids))

    def principal(self) -> Principal:
        return Principal.of(
            subject=f"key:{self.key_id}",
            display_name=self.source,
            credential_id=self.key_id,
            kind="machine",
            roles=self.roles,
            customers=ALL if self.all_customers else self.customer_ids,
            labels=self.labels,
            source=self.source,
        )

    def public(self) -> dict[str, object]:
        """What lists and audit records show (never the secret or its hash)."""
        return {
            "key_id": self.key_id,
            "source": self.source,
            "roles": sorted(self.roles),
            "customer_ids": "*" if self.all_customers else sorted(self.customer_ids),
            "labels": vars(self.labels).copy(),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class KeyError_(ValueError):
    """A key request that names an unknown role or an invalid id (message names it)."""


def hash_key(pepper: str, key: str) -> bytes:
    return hmac.digest(pepper.encode(), key.encode(), "sha256")  # OpenSSL one-shot HMAC


def new_key() -> tuple[str, str]:
    """(key_id, full key). The key id is public (lists, logs); the key is shown once."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def table(schema: str, name: str = "api_keys") -> str:
    if not SCHEMA.match(schema):
        raise ValueError(f"schema: {schema!r} is not a valid lower-case SQL identifier")
    return f'"{schema}".{name}'


def check_request(
    *, source: str, roles: Iterable[str], customer_ids: Iterable[str], all_customers: bool
) -> None:
    if not IDENTIFIER.match(source):
        raise KeyError_(f"source: {source!r} is not a valid id ([A-Za-z0-9._:@/-])")
    roles = list(roles)
    if not roles:
        raise KeyError_("roles: give at least one role")
    for role in roles:
        if role not in ROLE_PERMISSIONS:
            raise KeyError_(f"roles: unknown role {role!r} (known: {', '.join(ROLE_PERMISSIONS)})")
    customers = list(customer_ids)
    for c in customers:
        if not IDENTIFIER.match(c):
            raise KeyError_(f"customer_ids: {c!r} is not a valid id ([A-Za-z0-9._:@/-])")
    if all_customers and customers:
        raise KeyError_("customer_ids: give customers or all customers, not both")
    if not all_customers and not customers:
        raise KeyError_("customer_ids: give at least one customer (or all customers)")


def _from_row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        source=row["source"],
        customer_ids=frozenset(row["customer_ids"]),
        roles=frozenset(row["roles"]),
        all_customers=row["all_customers"],
        labels=LabelNames(
            row["label_customer"], row["label_device"], row["label_site"], row["label_check_kind"]
        ),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(
    conn: asyncpg.Connection,
    *,
    schema: str,
    pepper: str,
    source: str,
    customer_ids: Iterable[str] = (),
    roles: Iterable[str] = ("publisher",),
    all_customers: bool = False,
    labels: LabelNames | None = None,
    created_by: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key (its hash only); returns the key and its one-time secret."""
    customers = sorted(set(customer_ids))
    roles = sorted(set(roles))
    check_request(source=source, roles=roles, customer_ids=customers, all_customers=all_customers)
    labels = labels or LabelNames()
    key_id, secret = new_key()
    row = await conn.fetchrow(
        f"""INSERT INTO {table(schema)} (key_id, key_hash, source, roles, customer_ids,
                all_customers, label_customer, label_device, label_site, label_check_kind,
                created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *""",
        key_id,
        hash_key(pepper, secret),
        source,
        roles,
        customers,
        all_customers,
        labels.customer,
        labels.device,
        labels.site,
        labels.check_kind,
        created_by,
    )
    assert row is not None
    return _from_row(row), secret


async def list_keys(conn: asyncpg.Connection, *, schema: str) -> list[ApiKey]:
    rows = await conn.fetch(f"SELECT * FROM {table(schema)} ORDER BY created_at, key_id")
    return [_from_row(r) for r in rows]


async def revoke_key(conn: asyncpg.Connection, *, schema: str, key_id: str) -> bool:
    """Revoke; False when no active key has that id."""
    status = await conn.execute(
        f"UPDATE {table(schema)} SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return bool(status == "UPDATE 1")


async def find_active_key(
    conn: asyncpg.Connection | asyncpg.Pool, *, schema: str, key_hash: bytes
) -> ApiKey | None:
    row = await conn.fetchrow(
        f"SELECT * FROM {table(schema)} WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
    )
    return None if row is None else _from_row(row)


class KeyCache:
    """Resolves a presented key to its active ApiKey, caching answers (misses too, so
    a flood of wrong keys does not become a flood of queries) for `ttl_s`."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        schema: str,
        pepper: str,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.pepper = pepper
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[bytes, tuple[float, ApiKey | None]] = {}

    async def resolve(self, presented: str) -> ApiKey | None:
        digest = hash_key(self.pepper, presented)
        now = self.clock()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await find_active_key(self.pool, schema=self.schema, key_hash=digest)
        if self.ttl_s > 0:
            if len(self._entries) > 10_000:  # bound memory under a key-guessing flood
                self._entries.clear()
            self._entries[digest] = (now + self.ttl_s, found)
        return found
