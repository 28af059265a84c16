"""The monthly device and user reconciliation per customer: contracted vs seen, and
which assets are new or missing (`reconcile`, pure; the route loads the contract and
the sightings, views.py). JSON-ready dicts; `csv_rows` flattens one to a row per asset.

Per kind (device, user) that the month's flat fee counts or that was seen at all:
* `portions`: each fee portion (the days under one contract version, proration.py) with
  its contracted count, the peak seen on one of its days, the count billed and the
  amount: exactly what the invoice bills (counts.py);
* `contracted`: the count the last portion of the month commits to; `peak_seen` /
  `peak_day`: the most distinct assets seen on one local day of the month;
  `seen_in_month`: the distinct assets seen on any day;
* `new`: assets an inventory snapshot first listed after the month's first snapshot
  day (added during the month); `missing`: assets last listed before the month's last
  snapshot day (gone before the month ended); an asset listed only in between is both.
  Without any snapshot of the kind, the same against every day it was seen.
* `unlisted`: assets monitoring saw that no snapshot of the month listed (under
  management, but not in the inventory: counted all the same).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from billing.contracts import ContractState
from billing.counts import Sighting, fee_kind, seen_by_kind
from billing.periods import days_of, local_date
from billing.proration import prorate_flat_fee
from billing.store import money
from msp_events.types.inventory import AssetKind

KINDS: tuple[AssetKind, ...] = ("device", "user")


def _assets(sightings: list[Sighting], timezone: str, month: set[dt.date]) -> list[dict[str, Any]]:
    days: dict[str, set[dt.date]] = {}
    listed: dict[str, set[dt.date]] = {}  # days an inventory snapshot listed the asset
    sources: dict[str, set[str]] = {}
    for s in sightings:
        on = {local_date(at, timezone) for at in (s.first_at, s.last_at)} & month
        if not on:
            continue
        days.setdefault(s.asset_id, set()).update(on)
        sources.setdefault(s.asset_id, set()).update(s.sources)
        if "inventory" in s.sources:
            listed.setdefault(s.asset_id, set()).update(on)
    # new / missing against the inventory when there is one, else against every sighting
    basis = listed or days
    first_day = min((min(d) for d in basis.values()), default=None)
    last_day = max((max(d) for d in basis.values()), default=None)
    out = []
    for asset, seen in sorted(days.items()):
        mine = basis.get(asset, set())
        out.append(
            {
                "asset_id": asset,
                "first_seen": min(seen).isoformat(),
                "last_seen": max(seen).isoformat(),
                "days_seen": len(seen),
                "sources": sorted(sources[asset]),
                "new": bool(mine) and first_day is not None and min(mine) > first_day,
                "missing": bool(mine) and last_day is not None and max(mine) < last_day,
                "unlisted": bool(listed) and asset not in listed,
            }
        )
    return out


def reconcile(
    *, customer_id: str, period: str, contract: ContractState, sightings: Iterable[Sighting]
) -> dict[str, Any]:
    listed = list(sightings)
    latest = contract.versions[-1]
    timezone = latest.timezone
    by_kind = seen_by_kind(listed, timezone=timezone)
    month = set(days_of(period))
    portions = prorate_flat_fee(contract, period, timezone, by_kind)
    counted_kinds = {fee_kind(p.version) for p in portions}
    kinds = []
    for kind in KINDS:
        assets = _assets([s for s in listed if s.kind == kind], timezone, month)
        if kind not in counted_kinds and not assets:
            continue
        daily = {d: len(ids) for d, ids in by_kind[kind].items() if d in month}
        peak = max(daily.values(), default=0)
        peak_day = min((d for d, n in daily.items() if n == peak), default=None)
        mine = [p for p in portions if p.counted is not None and p.counted.kind == kind]
        kinds.append(
            {
                "kind": kind,
                "contracted": mine[-1].counted.contracted if mine and mine[-1].counted else None,
                "peak_seen": peak,
                "peak_day": peak_day.isoformat() if peak and peak_day else None,
                "seen_in_month": len(assets),
                "portions": [
                    {
                        "version": p.version.version,
                        "first_day": p.first_day.isoformat(),
                        "last_day": p.last_day.isoformat(),
                        "days": p.days,
                        "contracted": p.counted.contracted,
                        "peak_seen": p.counted.peak_seen,
                        "billed": p.counted.billed,
                        "amount": money(p.amount),
                    }
                    for p in mine
                    if p.counted is not None
                ],
                "new": [a["asset_id"] for a in assets if a["new"]],
                "missing": [a["asset_id"] for a in assets if a["missing"]],
                "unlisted": [a["asset_id"] for a in assets if a["unlisted"]],
                "assets": assets,
            }
        )
    return {
        "customer_id": customer_id,
        "period": period,
        "timezone": timezone,
        "currency": latest.rates.currency,
        "kinds": kinds,
    }


CSV_FIELDS = (
    "customer_id",
    "period",
    "kind",
    "contracted",
    "peak_seen",
    "asset_id",
    "first_seen",
    "last_seen",
    "days_seen",
    "sources",
    "new",
    "missing",
    "unlisted",
)


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per asset seen (sources joined by ';'), with its kind's contracted count
    and peak."""
    return [
        {
            "customer_id": report["customer_id"],
            "period": report["period"],
            "kind": k["kind"],
            "contracted": k["contracted"],
            "peak_seen": k["peak_seen"],
            **a,
            "sources": ";".join(a["sources"]),
        }
        for k in report["kinds"]
        for a in k["assets"]
    ]
