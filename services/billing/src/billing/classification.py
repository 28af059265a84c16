"""Which bucket a unit of work lands in: `classify(entry, context)`.

First match wins, in this order (issue 6, Deliver 1):

1. warranty     vendor RMA/warranty reference, or rework of our own earlier entry
2. on_demand    no managed contract in force on the work date (none yet, on-demand
                tier, terminated), or the asset is excluded from the contract
3. project      a project work category, or the ticket has grown past the contract's
                size threshold; billable only with an approved change order, else
                scope_creep (held, reported, never billed and never absorbed)
4. covered      a covered work category: zero charge, counted against the flat fee
                (rule `included_hours` when it counts against the contract's included
                hours, which the invoice run settles: see included_hours.py)
5. held_review  anything else ("unclassified")

Before any of these: a customer with no contract known yet cannot be told apart from a
managed one, so the entry waits (`AWAITING_CONTRACT`) and is classified when the
contract arrives (see consumers.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.contracts import ContractState
from msp_events.types.billing import Classification
from msp_events.types.contracts import ContractVersion
from msp_events.types.tickets import TimeLogged


@dataclass(frozen=True)
class Decision:
    kind: Classification
    rule: str
    reason: str
    change_order_id: str | None = None


@dataclass(frozen=True)
class ChangeOrder:
    """What billing keeps of a change order (approved, or rejected/withdrawn)."""

    change_order_id: str
    approved: bool
    ticket_ids: frozenset[str] = frozenset()
    work_categories: frozenset[str] = frozenset()
    approved_at: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    note: str = ""
    decided_at: dt.datetime | None = None
    """Event time of the approval/rejection: the time of the release it causes."""
    budget_minutes: int | None = None
    budget_amount: Decimal | None = None
    overrun_approved_at: dt.datetime | None = None
    """The latest approval of work beyond the budget: releases held work that ended by it."""
    overrun_decided_at: dt.datetime | None = None
    overrun_reason: str = ""

    def overrun_approved(self, entry: TimeLogged) -> bool:
        return self.overrun_approved_at is not None and entry.ended_at <= self.overrun_approved_at

    def approved_before(self, entry: TimeLogged) -> bool:
        """Approved by the time the work ended. Otherwise the work was scope creep when
        it was done, and the approval releases it (an audited reclassification),
        whichever of the two events billing happens to read first."""
        return self.approved_at is None or self.approved_at <= entry.ended_at

    def authorises(self, entry: TimeLogged) -> bool:
        """An approval covers the entry when the entry names it, or it lists the
        entry's ticket, or (a blanket approval without tickets) its category; and the
        work started before `valid_until`."""
        if not self.approved:
            return False
        if self.valid_until is not None and entry.started_at >= self.valid_until:
            return False
        if entry.change_order_id == self.change_order_id:
            return True
        if self.ticket_ids:
            return entry.ticket_id in self.ticket_ids
        return entry.work_category in self.work_categories


@dataclass(frozen=True)
class WorkContext:
    contract: ContractState | None
    change_orders: Sequence[ChangeOrder] = ()
    ticket_minutes_before: int = 0
    """Minutes already logged on the entry's ticket (for the size threshold)."""


AWAITING_CONTRACT = Decision(
    "held_review",
    "awaiting_contract",
    "no contract known for this customer yet; classified when it arrives",
)


def late_approval(entry: TimeLogged, orders: Sequence[ChangeOrder]) -> ChangeOrder | None:
    """An approval given after the work that authorises it (it releases the scope creep)."""
    return next(
        (co for co in orders if co.authorises(entry) and not co.approved_before(entry)), None
    )


def entry_minutes(entry: TimeLogged) -> int:
    return round((entry.ended_at - entry.started_at).total_seconds() / 60)


def classify(entry: TimeLogged, ctx: WorkContext) -> Decision:
    if ctx.contract is None:  # no currency, no rates, no tier: nothing to decide with
        return AWAITING_CONTRACT
    if entry.warranty_claim_ref:
        return Decision(
            "warranty", "warranty_claim", f"vendor warranty/RMA {entry.warranty_claim_ref}"
        )
    if entry.rework_of_entry_id:
        return Decision(
            "warranty",
            "rework_of_own_error",
            f"rework of our own earlier work (entry {entry.rework_of_entry_id}): no charge",
        )
    version = ctx.contract.version_at(entry.started_at)
    on_demand = _on_demand(entry, ctx.contract, version)
    if on_demand is not None:
        return on_demand
    assert version is not None
    project = _project(entry, version, ctx)
    if project is not None:
        return project
    if entry.work_category in version.covered_categories:
        block = version.included_hours
        if block is not None and entry.work_category in block.categories:
            # settled at the invoice run: beyond the allowance it becomes overage
            return Decision(
                "covered",
                "included_hours",
                f"{entry.work_category} is covered work counted against the "
                f"{block.hours_per_month:.2f} included hours a month (contract version "
                f"{version.version}); beyond them it is billed at {block.overage_hourly}/h",
            )
        return Decision(
            "covered",
            "covered_category",
            f"{entry.work_category} is routine work covered by the flat fee "
            f"(contract version {version.version})",
        )
    return Decision(
        "held_review",
        "unclassified",
        f"unclassified: work category {entry.work_category!r} is neither covered nor a "
        f"project category in contract version {version.version}",
    )


def _on_demand(
    entry: TimeLogged, contract: ContractState, version: ContractVersion | None
) -> Decision | None:
    if version is None:
        ended = contract.terminated_at
        why = (
            f"contract terminated on {ended.date().isoformat()}"
            if ended is not None and entry.started_at >= ended
            else "before the contract's first version took effect"
        )
        return Decision("on_demand", "no_active_contract", f"no managed contract in force: {why}")
    if version.tier == "on_demand":
        return Decision(
            "on_demand",
            "on_demand_contract",
            f"on-demand customer (contract version {version.version}): billed hourly",
        )
    if entry.asset_id is not None:
        excluded = next((a for a in version.excluded_assets if a.asset_id == entry.asset_id), None)
        if excluded is not None:
            return Decision(
                "on_demand",
                "excluded_asset",
                f"asset {entry.asset_id} is excluded from the contract: {excluded.reason}",
            )
    return None


def _project(entry: TimeLogged, version: ContractVersion, ctx: WorkContext) -> Decision | None:
    if entry.work_category in version.project_categories:
        what = f"{entry.work_category} is project work"
    else:
        threshold = version.project_size_threshold_minutes
        total = ctx.ticket_minutes_before + entry_minutes(entry)
        if threshold is None or total <= threshold:
            return None
        # The entry that takes the ticket past the threshold, and every later one, is
        # project work; earlier entries stay covered (they were, when they were done).
        what = f"ticket {entry.ticket_id} exceeds the {threshold}-minute size threshold"
    order = next(
        (co for co in ctx.change_orders if co.authorises(entry) and co.approved_before(entry)),
        None,
    )
    if order is not None:
        return Decision(
            "project",
            "approved_change_order",
            f"{what}; authorised by change order {order.change_order_id}",
            order.change_order_id,
        )
    rejected = next(
        (
            co
            for co in ctx.change_orders
            if not co.approved and co.change_order_id == entry.change_order_id
        ),
        None,
    )
    if rejected is not None:
        return Decision(
            "scope_creep",
            "change_order_rejected",
            f"{what}; change order {rejected.change_order_id} was rejected: {rejected.note}",
            rejected.change_order_id,
        )
    return Decision(
        "scope_creep",
        "no_change_order",
        f"{what} without an approved change order: held for review, not billed",
    )
