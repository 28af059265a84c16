"""The simulated month: `generate(seed=, month=, customers=)` -> `Month`, a pure function.

Same arguments, same posts (ids included), in event-time order. The storylines are
cast on fixed roles among the customers (by tier), so the README can say where to look:
with the default 30 customers the storm is on cust-004, flapping on cust-001, and so on
(`Month.cast` has the exact ids for any seed and scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from msp_simulator import inventory, outages, stories, workload
from msp_simulator.cast import STORIES, Cast
from msp_simulator.script import Post, Script
from msp_simulator.world import Customer, World, build_world, with_included_hours

DEFAULT_MONTH = date(2026, 3, 1)
"""March 2026: a fixed month, so `make run` shows the same thing on every machine and
every day. New York moves to summer time on the 8th and London/Berlin on the 29th."""
MIN_CUSTOMERS = 5
"""Enough for every tier and every storyline to have its own customer."""


@dataclass(frozen=True)
class Month:
    world: World
    posts: tuple[Post, ...]
    cast: dict[str, dict[str, str]]

    @property
    def event_count(self) -> int:
        return sum(len(p.events) for p in self.posts)


def generate(*, seed: int, month: date = DEFAULT_MONTH, customers: int = 30) -> Month:
    if customers < MIN_CUSTOMERS:
        raise ValueError(f"customers: at least {MIN_CUSTOMERS} (one per storyline role)")
    world = build_world(seed=seed, month=month, customers=customers)
    managed = world.by_tier("managed")
    block_hours = managed[5 % len(managed)]
    world = with_included_hours(world, block_hours.customer_id)
    script, cast = Script(seed), Cast()
    managed = world.by_tier("managed")
    vip = world.by_tier("managed_vip")
    on_demand = world.by_tier("on_demand")

    def pick(group: list[Customer], i: int) -> Customer:
        return group[i % len(group)]

    stories.contracts(script, world, cast)
    outages.alert_storm(script, world, cast, vip[0])
    outages.flapping_check(script, world, cast, pick(managed, 0))
    outages.maintenance_window(script, world, cast, pick(managed, 2))
    outages.backup_failures(script, world, cast, [pick(managed, 0), pick(vip, 1), pick(managed, 3)])
    workload.customer_tickets(script, world, cast)
    stories.waiting_on_customer(script, world, cast, pick(managed, 0))
    stories.vendor_rma(script, world, cast, pick(managed, 3))
    stories.project_change_order(script, world, cast, pick(managed, 2))
    stories.included_hours(script, world, cast, pick(managed, 5))
    stories.scope_creep(script, world, cast, pick(managed, 4))
    stories.after_hours(script, world, cast, on_demand[0])
    stories.contract_amendment(script, world, cast, pick(managed, 1))
    workload.alert_noise(script, world, cast)
    # the customer that outgrows its contract: not the one whose contract is amended
    grows = next(c for c in (pick(managed, 5), pick(managed, 4)) if c is not pick(managed, 1))
    inventory.snapshots(script, world, cast, grows)
    outages.month_end_checkin(script, world, cast)
    assert set(cast.roles) == set(STORIES), "every storyline is cast"
    return Month(world=world, posts=script.posts(), cast=cast.roles)
