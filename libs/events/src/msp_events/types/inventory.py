"""Inventory events, on `msp.monitoring.v1` (beside the alerts from the same RMM tools).

Emitted by ingest from the RMM / directory sync (CloudEvents or the raw monitoring
topic). Consumed by billing, which counts the devices and users under management per
customer-local day for per-device and per-user fees and the monthly reconciliation of
contracted against seen (`services/billing/src/billing/counts.py`). Incidents reads the
topic for alerts and ignores these.

A snapshot lists every asset the source saw at `observed_at`; it does not retract
earlier snapshots, so an asset counts on each day some snapshot (or alert) names it.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from msp_events.base import EventData, Identifier, Part, UtcDatetime
from msp_events.types.monitoring import SourceSystem

AssetKind = Literal["device", "user"]
"""What a per-unit fee counts: a managed device (`FlatFee.devices`) or a user
(`FlatFee.users`)."""

MAX_ASSETS = 20_000
"""Assets in one snapshot; a larger estate sends several snapshots (they add up)."""


class Asset(Part):
    """One device or user as the source knows it."""

    kind: AssetKind
    asset_id: Identifier = Field(
        description="The device id (as alerts name it in `device_id`) or the user's id"
    )
    site_id: Identifier | None = None
    name: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class InventorySnapshot(EventData):
    """The devices and users a source saw under management for a customer at
    `observed_at`. Emitted by ingest from RMM inventory exports or a directory sync
    (daily or weekly is typical). Billing counts each asset on the customer-local day of
    `observed_at`; the same asset twice in one snapshot is refused."""

    event_type: ClassVar[str] = "msp.inventory.snapshot.v1"

    source_system: SourceSystem
    observed_at: UtcDatetime
    assets: list[Asset] = Field(max_length=MAX_ASSETS)

    @field_validator("assets")
    @classmethod
    def _unique(cls, value: list[Asset]) -> list[Asset]:
        seen: set[tuple[str, str]] = set()
        for asset in value:
            key = (asset.kind, asset.asset_id)
            if key in seen:
                raise ValueError(f"{asset.kind} {asset.asset_id} listed twice")
            seen.add(key)
        return value


EVENTS: tuple[type[EventData], ...] = (InventorySnapshot,)
