"""Counted fees: how many devices or users a per-unit flat fee bills for, from what was
seen under management. Pure functions; the consumer stores the sightings
(`store.save_sightings`) and the invoice run passes them in (`proration.py`).

The counting rule (services/billing/README.md, "Counted fees"):

* **Seen on a day**: an asset counts on a customer-local day when an inventory snapshot
  observed on that day lists it (`InventorySnapshot`, kind device or user), or, for a
  device, when a monitoring event on that day names it (`AlertFiring`, `AlertResolved`,
  `Heartbeat` `device_id`). Assets the contract version excludes (`excluded_assets`)
  never count.
* **Peak**: a fee portion (the days under one contract version, proration.py) counts
  the highest number of distinct assets of its kind seen on any one of its days. Daily
  distinct, not the month's union: a laptop replaced mid-month is one seat, not two.
* **Minimum commitment**: the contracted count (`FlatFee.devices` / `users`) is the
  floor; billed = max(contracted, peak seen). Nothing seen bills the contracted count.
* **Amount**: unit price x billed count for a whole month; a portion of d of the
  month's D days bills unit price x billed count x d / D, rounded half-up once to the
  currency's minor unit, exactly as a fixed fee is prorated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from billing.periods import local_date
from msp_events.types.contracts import ContractVersion
from msp_events.types.inventory import AssetKind

SeenPerDay = Mapping[dt.date, frozenset[str]]
"""Per customer-local day: the ids of the distinct assets of one kind seen on it."""


@dataclass(frozen=True)
class Sighting:
    """An asset seen between `first_at` and `last_at` (UTC) within one UTC day, which
    spans at most two customer-local days: the asset was seen on the local day of each
    end (that is how the store keeps them: one row per asset and UTC day)."""

    kind: AssetKind
    asset_id: str
    first_at: dt.datetime
    last_at: dt.datetime
    sources: frozenset[str] = field(default_factory=frozenset)


def seen_per_day(
    sightings: Iterable[Sighting], *, kind: AssetKind, timezone: str
) -> dict[dt.date, frozenset[str]]:
    """The distinct assets of `kind` seen on each customer-local day."""
    days: dict[dt.date, set[str]] = {}
    for s in sightings:
        if s.kind != kind:
            continue
        for at in (s.first_at, s.last_at):
            days.setdefault(local_date(at, timezone), set()).add(s.asset_id)
    return {day: frozenset(ids) for day, ids in days.items()}


@dataclass(frozen=True)
class CountedUnits:
    """What a per-unit fee portion bills for, and why."""

    kind: AssetKind
    contracted: int
    peak_seen: int
    peak_day: dt.date | None
    """The first day of the portion on which `peak_seen` assets were seen."""

    @property
    def billed(self) -> int:
        return max(self.contracted, self.peak_seen)

    def explain(self) -> str:
        noun = "devices" if self.kind == "device" else "users"
        seen = (
            f"peak seen {self.peak_seen} on {self.peak_day}"
            if self.peak_day is not None
            else "none seen"
        )
        return f"contracted {self.contracted} {noun}, {seen}: billed {self.billed} {noun}"


def fee_kind(version: ContractVersion) -> AssetKind | None:
    """The asset kind a version's flat fee counts, or None for a fixed fee / none."""
    fee = version.flat_fee
    if fee is None or fee.model == "fixed":
        return None
    return "user" if fee.model == "per_user" else "device"


def count_units(
    version: ContractVersion, *, days: Sequence[dt.date], seen: SeenPerDay
) -> CountedUnits | None:
    """The count a per-unit fee bills over `days` under `version` (None for a fixed fee):
    the contracted count, raised to the peak of distinct assets seen on one day."""
    kind = fee_kind(version)
    if kind is None:
        return None
    fee = version.flat_fee
    assert fee is not None
    contracted = (fee.users if kind == "user" else fee.devices) or 0
    excluded = {a.asset_id for a in version.excluded_assets}
    peak, peak_day = 0, None
    for day in days:
        n = len(seen.get(day, frozenset()) - excluded)
        if n > peak:
            peak, peak_day = n, day
    return CountedUnits(kind, contracted, peak, peak_day)


def seen_by_kind(sightings: Iterable[Sighting], *, timezone: str) -> dict[AssetKind, SeenPerDay]:
    """What the fee rule reads: per kind, the distinct assets seen per local day."""
    listed = list(sightings)
    return {
        "device": seen_per_day(listed, kind="device", timezone=timezone),
        "user": seen_per_day(listed, kind="user", timezone=timezone),
    }
