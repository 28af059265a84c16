"""The assets seen under management, in Postgres: the consumer saves sightings from
inventory snapshots and monitoring events; the invoice run and the reconciliation
report load a period's. Keyword-only helpers on a connection; the CALLER owns the
transaction. The counting rule itself is pure (counts.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from billing import store
from billing.counts import Sighting
from billing.periods import days_of
from billing.reconciliation import reconcile
from msp_events import Envelope
from msp_events.types.inventory import AssetKind, InventorySnapshot
from msp_events.types.monitoring import AlertFiring, AlertResolved, Heartbeat

Key = tuple[str, dt.date, str, str]  # customer, UTC day, kind, asset id


def sightings_of(events: Iterable[Envelope]) -> dict[Key, Sighting]:
    """A batch's sightings, merged per (customer, UTC day, kind, asset): every asset an
    inventory snapshot lists (at `observed_at`), and every device a monitoring event
    names (an alert at its event time, a heartbeat at `sent_at`)."""
    found: dict[Key, Sighting] = {}

    def see(customer: str, kind: AssetKind, asset: str, at: dt.datetime, source: str) -> None:
        key = (customer, at.astimezone(dt.UTC).date(), kind, asset)
        old = found.get(key)
        if old is None:
            found[key] = Sighting(kind, asset, at, at, frozenset({source}))
        else:
            found[key] = Sighting(
                kind,
                asset,
                min(old.first_at, at),
                max(old.last_at, at),
                old.sources | {source},
            )

    for event in events:
        data = event.data
        if isinstance(data, InventorySnapshot):
            for asset in data.assets:
                see(event.customer_id, asset.kind, asset.asset_id, data.observed_at, "inventory")
        elif isinstance(data, AlertFiring | AlertResolved) and data.device_id is not None:
            see(event.customer_id, "device", data.device_id, event.time, "monitoring")
        elif isinstance(data, Heartbeat):
            see(event.customer_id, "device", data.device_id, data.sent_at, "monitoring")
    return found


class KnownSightings:
    """What `assets_seen` is known to hold already, per (customer, UTC day, kind,
    asset): the first and last instant and the sources of a committed write. A row only
    ever widens (the upsert keeps the earlier first, the later last and the union of
    sources) and is never deleted, so what a committed write put there stays a lower
    bound of the row whoever writes it later (another instance, after a rebalance).
    A sighting inside that bound would not change the row: it is not written again.
    Learned only once the transaction committed (`Tx.on_commit`), never from one rolled
    back; bounded (forgotten wholesale past `limit` keys: a forgotten key is written
    again, which is always correct)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._rows: dict[Key, Sighting] = {}

    def unknown(self, sightings: dict[Key, Sighting]) -> dict[Key, Sighting]:
        """The sightings that would change their row (the others are skipped)."""
        rows = self._rows
        return {k: s for k, s in sightings.items() if not _covers(rows.get(k), s)}

    def learn(self, written: dict[Key, Sighting]) -> None:
        """`written` was committed: the rows hold at least these."""
        rows = self._rows
        if len(rows) + len(written) > self.limit:
            rows.clear()
        for k, s in written.items():
            old = rows.get(k)
            rows[k] = s if old is None else _merge(old, s)


def _covers(row: Sighting | None, s: Sighting) -> bool:
    return (
        row is not None
        and row.first_at <= s.first_at
        and s.last_at <= row.last_at
        and s.sources <= row.sources
    )


def _merge(a: Sighting, b: Sighting) -> Sighting:
    return Sighting(
        a.kind,
        a.asset_id,
        min(a.first_at, b.first_at),
        max(a.last_at, b.last_at),
        a.sources | b.sources,
    )


async def save_sightings(conn: asyncpg.Connection, *, sightings: dict[Key, Sighting]) -> None:
    """One upsert for the batch: each row widened to include its sightings."""
    if not sightings:
        return
    keys = sorted(sightings)
    await conn.execute(
        """INSERT INTO assets_seen AS a
               (customer_id, utc_day, kind, asset_id, first_at, last_at, sources)
           SELECT c, d, k, i, f, l, string_to_array(s, ',')
           FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::timestamptz[],
                       $6::timestamptz[], $7::text[]) AS r(c, d, k, i, f, l, s)
           ON CONFLICT (customer_id, utc_day, kind, asset_id) DO UPDATE SET
               first_at = LEAST(a.first_at, EXCLUDED.first_at),
               last_at = GREATEST(a.last_at, EXCLUDED.last_at),
               sources = ARRAY(SELECT DISTINCT x FROM unnest(a.sources || EXCLUDED.sources) x
                               ORDER BY x)""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [sightings[k].first_at for k in keys],
        [sightings[k].last_at for k in keys],
        [",".join(sorted(sightings[k].sources)) for k in keys],
    )


async def load_sightings(
    conn: asyncpg.Connection, *, customer_ids: Sequence[str], period: str
) -> dict[str, list[Sighting]]:
    """Per customer, every sighting that can fall on a local day of `period` (the UTC
    days from the day before its first to the day after its last: any zone's month)."""
    days = days_of(period)
    rows = await conn.fetch(
        """SELECT customer_id, kind, asset_id, first_at, last_at, sources FROM assets_seen
           WHERE customer_id = ANY($1) AND utc_day BETWEEN $2 AND $3
           ORDER BY customer_id, kind, asset_id, utc_day""",
        list(customer_ids),
        days[0] - dt.timedelta(days=1),
        days[-1] + dt.timedelta(days=1),
    )
    found: dict[str, list[Sighting]] = {}
    for r in rows:
        found.setdefault(r["customer_id"], []).append(
            Sighting(r["kind"], r["asset_id"], r["first_at"], r["last_at"], frozenset(r["sources"]))
        )
    return found


async def load_reconciliations(
    conn: asyncpg.Connection, *, period: str, customer_ids: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The reconciliation report (reconciliation.py) of each customer with a contract,
    of `customer_ids` (None: every customer), in customer order."""
    contracts = await store.load_contracts(conn, customer_ids=customer_ids)
    customers = sorted(contracts)
    sightings = await load_sightings(conn, customer_ids=customers, period=period)
    return [
        reconcile(
            customer_id=c,
            period=period,
            contract=contracts[c],
            sightings=sightings.get(c, ()),
        )
        for c in customers
    ]
