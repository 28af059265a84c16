"""Classification rules, first match wins (issue 6, Deliver 1)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing_factory import at, contract, entry, managed_ny, on_demand_ny
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.classification import AWAITING_CONTRACT, ChangeOrder, WorkContext, classify

WORK = at(2026, 3, 10, 15)  # Tuesday 11:00 in New York
MANAGED = contract(managed_ny())


def ctx(**kw: object) -> WorkContext:
    base: dict[str, object] = {"contract": MANAGED}
    base.update(kw)
    return WorkContext(**base)  # type: ignore[arg-type]


def approved(co: str = "CO-1", **kw: object) -> ChangeOrder:
    return ChangeOrder(co, approved=True, **kw)  # type: ignore[arg-type]


def test_no_contract_yet_waits() -> None:
    assert classify(entry(WORK, 30), WorkContext(None)) == AWAITING_CONTRACT


def test_warranty_claim_wins_over_everything() -> None:
    d = classify(entry(WORK, 60, "installation", warranty_claim_ref="RMA-9"), ctx())
    assert (d.kind, d.rule) == ("warranty", "warranty_claim")
    assert "RMA-9" in d.reason


def test_rework_of_own_error_is_warranty() -> None:
    d = classify(entry(WORK, 60, "help_desk", rework_of_entry_id="TE-1"), ctx())
    assert (d.kind, d.rule) == ("warranty", "rework_of_own_error")


def test_before_first_version_is_on_demand() -> None:
    d = classify(entry(at(2024, 6, 3, 15), 60), ctx())
    assert (d.kind, d.rule) == ("on_demand", "no_active_contract")


def test_after_termination_is_on_demand() -> None:
    ended = contract(managed_ny(), terminated_at=at(2026, 3, 1, 5))
    d = classify(entry(WORK, 60), ctx(contract=ended))
    assert (d.kind, d.rule) == ("on_demand", "no_active_contract")
    assert "terminated" in d.reason


def test_on_demand_tier() -> None:
    d = classify(entry(WORK, 60, "help_desk"), ctx(contract=contract(on_demand_ny())))
    assert (d.kind, d.rule) == ("on_demand", "on_demand_contract")


def test_excluded_asset_is_on_demand_even_for_covered_work() -> None:
    d = classify(entry(WORK, 60, "help_desk", asset_id="ws-legacy-xp01"), ctx())
    assert (d.kind, d.rule) == ("on_demand", "excluded_asset")
    assert "Windows XP" in d.reason


def test_project_without_change_order_is_scope_creep() -> None:
    d = classify(entry(WORK, 60, "installation"), ctx())
    assert (d.kind, d.rule) == ("scope_creep", "no_change_order")


def test_project_with_named_change_order() -> None:
    d = classify(
        entry(WORK, 60, "installation", change_order_id="CO-1"),
        ctx(change_orders=[approved("CO-1")]),
    )
    assert (d.kind, d.rule, d.change_order_id) == ("project", "approved_change_order", "CO-1")


def test_change_order_by_ticket_and_by_blanket_category() -> None:
    by_ticket = ctx(change_orders=[approved("CO-2", ticket_ids=frozenset({"T-1"}))])
    assert classify(entry(WORK, 60, "upgrade"), by_ticket).kind == "project"
    other_ticket = ctx(change_orders=[approved("CO-2", ticket_ids=frozenset({"T-9"}))])
    assert classify(entry(WORK, 60, "upgrade"), other_ticket).kind == "scope_creep"
    blanket = ctx(change_orders=[approved("CO-3", work_categories=frozenset({"upgrade"}))])
    assert classify(entry(WORK, 60, "upgrade"), blanket).kind == "project"
    assert classify(entry(WORK, 60, "migration"), blanket).kind == "scope_creep"


def test_expired_or_rejected_change_order_does_not_authorise() -> None:
    expired = approved("CO-1", ticket_ids=frozenset({"T-1"}), valid_until=WORK - timedelta(days=1))
    assert classify(entry(WORK, 60, "installation"), ctx(change_orders=[expired])).kind == (
        "scope_creep"
    )
    rejected = ChangeOrder("CO-1", approved=False, note="too expensive")
    d = classify(
        entry(WORK, 60, "installation", change_order_id="CO-1"), ctx(change_orders=[rejected])
    )
    assert (d.kind, d.rule) == ("scope_creep", "change_order_rejected")


def test_size_threshold_turns_covered_work_into_project() -> None:
    # managed sample: threshold 480 minutes per ticket
    assert classify(entry(WORK, 60, "help_desk"), ctx(ticket_minutes_before=420)).kind == (
        "covered"
    )
    d = classify(entry(WORK, 61, "help_desk"), ctx(ticket_minutes_before=420))
    assert (d.kind, d.rule) == ("scope_creep", "no_change_order")
    assert "size threshold" in d.reason


def test_covered_category() -> None:
    d = classify(entry(WORK, 30, "patching"), ctx())
    assert (d.kind, d.rule) == ("covered", "covered_category")


def test_covered_work_in_the_included_categories_counts_against_the_block() -> None:
    block = {
        "hours_per_month": Decimal("10"),
        "categories": ["help_desk"],
        "overage_hourly": Decimal("150.00"),
    }
    with_block = contract(
        managed_ny(covered_categories=["help_desk", "patching"], included_hours=block)
    )
    d = classify(entry(WORK, 30, "help_desk"), ctx(contract=with_block))
    assert (d.kind, d.rule) == ("covered", "included_hours")
    assert "10.00 included hours" in d.reason and "150.00/h" in d.reason
    other = classify(entry(WORK, 30, "patching"), ctx(contract=with_block))
    assert (other.kind, other.rule) == ("covered", "covered_category")


def test_anything_else_is_held_unclassified() -> None:
    d = classify(entry(WORK, 30, "gardening"), ctx())
    assert (d.kind, d.rule) == ("held_review", "unclassified")
    assert d.reason.startswith("unclassified")


categories = st.sampled_from(
    ["help_desk", "patching", "installation", "upgrade", "gardening", "migration"]
)


@settings(deadline=None)
@given(category=categories, minutes=st.integers(1, 600), before=st.integers(0, 1000))
def test_every_entry_lands_in_exactly_one_known_bucket(
    category: str, minutes: int, before: int
) -> None:
    d = classify(entry(WORK, minutes, category), ctx(ticket_minutes_before=before))
    assert d.kind in {"covered", "project", "on_demand", "warranty", "scope_creep", "held_review"}
    assert d.rule and d.reason
    # project work is never covered silently, and never billable without an order
    if category in ("installation", "upgrade", "migration"):
        assert d.kind == "scope_creep"


@settings(deadline=None)
@given(category=categories, asset=st.sampled_from([None, "ws-legacy-xp01"]))
def test_warranty_precedes_every_other_rule(category: str, asset: str | None) -> None:
    d = classify(entry(WORK, 30, category, asset_id=asset, warranty_claim_ref="RMA-1"), ctx())
    assert d.kind == "warranty"
