"""The month's inventory: what the RMM and the directory sync report as under
management, for per-device fees and the monthly reconciliation (billing counts the
devices and users seen; the contracted count is the floor).

Every monitored customer (managed and VIP) sends an `InventorySnapshot` of its devices
and users at 06:00 local on the 1st, 8th, 15th, 22nd and 29th. One customer grows past
its contract: two workstations are added on the 10th (in the snapshots from the 15th),
and one device is retired on the 20th (gone from the 22nd), so billing sees two more
devices than contracted at the peak and the reconciliation lists them as new, and the
retired one as missing."""

from __future__ import annotations

from datetime import date

from msp_events.types.inventory import Asset, InventorySnapshot
from msp_simulator.cast import Cast
from msp_simulator.script import Script
from msp_simulator.world import Customer, World

SNAPSHOT_DAYS = (1, 8, 15, 22, 29)
ADDED_ON, RETIRED_ON = 10, 20


def users_of(c: Customer) -> list[str]:
    """The customer's directory users: a few more people than devices on site."""
    return [f"{c.customer_id}-user-{i + 1:02d}" for i in range(3 + len(c.devices) // 2)]


def snapshots(s: Script, world: World, cast: Cast, grows: Customer) -> None:
    first_site = grows.sites[0].site_id
    added = [
        Asset(kind="device", asset_id=f"{grows.customer_id}-ws-9{i + 1:02d}", site_id=first_site)
        for i in range(2)
    ]
    retired = grows.devices[-1].device_id
    for c in world.customers:
        if c.tier == "on_demand":
            continue  # not monitored, no per-device fee
        for n in SNAPSHOT_DAYS:
            if n > len(world.days):
                continue
            day = date(world.month.year, world.month.month, n)
            assets = [
                Asset(kind="device", asset_id=d.device_id, site_id=d.site_id) for d in c.devices
            ]
            assets += [Asset(kind="user", asset_id=u) for u in users_of(c)]
            if c is grows and n >= ADDED_ON:
                assets += added
            if c is grows and n >= RETIRED_ON:
                assets = [a for a in assets if a.asset_id != retired]
            at = c.local(day, 6, 0)
            data = InventorySnapshot(source_system="rmm", observed_at=at, assets=assets)
            s.post("inventory", c.customer_id, data, at, day.isoformat())
    contracted = len(grows.devices)
    cast.add(
        "inventory",
        customer_id=grows.customer_id,
        contracted=str(contracted),
        peak_seen=str(contracted + 2),
        new=",".join(a.asset_id for a in added),
        missing=retired,
    )
