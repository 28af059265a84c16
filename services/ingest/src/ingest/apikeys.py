"""API keys: who may post, for which customers, and how their alert labels are named.

A key is `mspk_<key_id>_<secret>` with 256 random bits of secret, so a keyed hash
(HMAC-SHA256 with a pepper held in the settings) is enough: no salt or slow KDF is
needed for high-entropy random keys, and the lookup stays one indexed equality.
Lookups are cached in memory for `auth_cache_ttl_s` (default 5 s) so a post does not
cost a database round trip: that TTL is how long a revoked key may still work on an
instance.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

KEY_PREFIX = "mspk_"


@dataclass(frozen=True)
class LabelNames:
    """Alertmanager label names (PagerDuty custom_details keys) that carry our ids."""

    customer: str = "customer"
    device: str = "instance"
    site: str = "site"
    check_kind: str = "check_kind"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    source: str
    customer_ids: frozenset[str]
    labels: LabelNames = field(default_factory=LabelNames)
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def may_post_for(self, customer_id: str) -> bool:
        return customer_id in self.customer_ids

    @property
    def sole_customer(self) -> str | None:
        """The customer when the key has exactly one (then labels may omit it)."""
        return next(iter(self.customer_ids)) if len(self.customer_ids) == 1 else None


def hash_key(pepper: str, key: str) -> bytes:
    return hmac.digest(pepper.encode(), key.encode(), "sha256")  # OpenSSL one-shot HMAC


def new_key() -> tuple[str, str]:
    """(key_id, full key). The key id is public (lists, logs); the key is shown once."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def _from_row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        source=row["source"],
        customer_ids=frozenset(row["customer_ids"]),
        labels=LabelNames(
            row["label_customer"], row["label_device"], row["label_site"], row["label_check_kind"]
        ),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(
    conn: asyncpg.Connection,
    *,
    pepper: str,
    source: str,
    customer_ids: list[str],
    labels: LabelNames | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key (its hash only); returns the key and its one-time secret."""
    labels = labels or LabelNames()
    key_id, secret = new_key()
    row = await conn.fetchrow(
        """INSERT INTO api_keys (key_id, key_hash, source, customer_ids, label_customer,
                                 label_device, label_site, label_check_kind)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        key_id,
        hash_key(pepper, secret),
        source,
        sorted(set(customer_ids)),
        labels.customer,
        labels.device,
        labels.site,
        labels.check_kind,
    )
    assert row is not None
    return _from_row(row), secret


async def list_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    rows = await conn.fetch("SELECT * FROM api_keys ORDER BY created_at, key_id")
    return [_from_row(r) for r in rows]


async def revoke_key(conn: asyncpg.Connection, *, key_id: str) -> bool:
    """Revoke; False when no active key has that id."""
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id
    )
    return bool(status == "UPDATE 1")


async def find_active_key(
    conn: asyncpg.Connection | asyncpg.Pool, *, key_hash: bytes
) -> ApiKey | None:
    row = await conn.fetchrow(
        "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
    )
    return None if row is None else _from_row(row)


class KeyCache:
    """Resolves a presented key to its active ApiKey, caching answers (misses too, so
    a flood of wrong keys does not become a flood of queries) for `ttl_s`."""

    def __init__(self, *, pool: asyncpg.Pool, pepper: str, ttl_s: float) -> None:
        self.pool = pool
        self.pepper = pepper
        self.ttl_s = ttl_s
        self._entries: dict[bytes, tuple[float, ApiKey | None]] = {}

    async def resolve(self, presented: str) -> ApiKey | None:
        digest = hash_key(self.pepper, presented)
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await find_active_key(self.pool, key_hash=digest)
        if self.ttl_s > 0:
            if len(self._entries) > 10_000:  # bound memory under a key-guessing flood
                self._entries.clear()
            self._entries[digest] = (now + self.ttl_s, found)
        return found
