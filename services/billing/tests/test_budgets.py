"""Change-order budgets: the pure split rule (`billing/budgets.py`) and the line items
it gives (`line_items.build_budgeted_line_items`)."""

from __future__ import annotations

from decimal import Decimal

from billing_factory import NY, contract, entry, local, managed_ny
from hypothesis import given
from hypothesis import strategies as st

from billing.budgets import BudgetLeft, affordable, split_at_budget
from billing.classification import Decision
from billing.line_items import OVER_BUDGET, build_budgeted_line_items
from billing.pricing import Segment
from msp_events.types.billing import price

PROJECT = Decision("project", "approved_change_order", "installation; CO-9", "CO-9")
ONE = Decimal(1)


def seg(worked: int, billed: int | None = None, multiplier: str = "1") -> Segment:
    start = local(NY, 2026, 3, 10, 9)
    return Segment(start, worked, worked if billed is None else billed, Decimal(multiplier), "x")


def test_180_minute_budget_240_logged_holds_60() -> None:
    ctr = contract(managed_ny())
    left = BudgetLeft(180, None)
    first, left_after = build_budgeted_line_items(
        entry(local(NY, 2026, 3, 10, 9), 120, "installation"),
        source_event_id="src-1",
        decision=PROJECT,
        contract=ctr,
        last_closed=None,
        budget=left,
    )
    second, end = build_budgeted_line_items(
        entry(local(NY, 2026, 3, 11, 9), 120, "installation"),
        source_event_id="src-2",
        decision=PROJECT,
        contract=ctr,
        last_closed=None,
        budget=left_after,
    )
    assert [(i.classification, i.minutes_worked, i.amount) for i in first] == [
        ("project", 120, Decimal("200.00"))
    ]
    billed, held = second
    assert (billed.classification, billed.minutes_billed, billed.amount) == (
        "project",
        60,
        Decimal("100.00"),
    )
    assert (held.classification, held.rule, held.minutes_worked) == ("scope_creep", OVER_BUDGET, 60)
    assert (held.minutes_billed, held.amount, held.change_order_id) == (0, Decimal(0), "CO-9")
    assert "beyond the budget of change order CO-9" in held.reason
    assert held.line_item_id != billed.line_item_id
    assert end == BudgetLeft(0, None)


def test_an_amount_budget_holds_what_it_cannot_pay_for() -> None:
    # USD 100/h: 250.00 pays for 150 minutes of a 180-minute segment
    pieces, left = split_at_budget(
        [seg(180)], BudgetLeft(None, Decimal("250.00")), rate=Decimal("100.00"), currency="USD"
    )
    assert [(p.minutes_worked, p.held) for p in pieces] == [(150, False), (30, True)]
    assert left.amount == Decimal("0.00")


def test_no_budget_left_holds_the_whole_entry_under_its_own_ids() -> None:
    pieces, _ = split_at_budget(
        [seg(60), seg(30, 45)], BudgetLeft(0, None), rate=Decimal(100), currency="USD"
    )
    assert [(p.index, p.minutes_worked, p.minutes_billed, p.held) for p in pieces] == [
        (0, 60, 0, True),
        (1, 30, 0, True),
    ]


def test_the_rounding_extra_stays_with_the_part_within() -> None:
    pieces, _ = split_at_budget(
        [seg(50, 60)], BudgetLeft(40, None), rate=Decimal(100), currency="USD"
    )
    assert [(p.index, p.minutes_worked, p.minutes_billed) for p in pieces] == [
        (0, 40, 50),
        (1, 10, 0),
    ]


@given(
    segments=st.lists(
        st.tuples(st.integers(1, 600), st.integers(0, 30), st.sampled_from(["1", "1.5", "2"])),
        min_size=1,
        max_size=6,
    ),
    minutes=st.none() | st.integers(-60, 1500),
    amount=st.none() | st.decimals(-10, 3000, places=2),
)
def test_split_conserves_minutes_and_never_bills_past_the_minutes_budget(
    segments: list[tuple[int, int, str]], minutes: int | None, amount: Decimal | None
) -> None:
    # the rounding extra is on the last segment only, as pricing.price_entry gives it
    segs = [seg(w, w, m) for w, _, m in segments]
    last_w, extra, last_m = segments[-1]
    segs[-1] = seg(last_w, last_w + extra, last_m)
    pieces, left = split_at_budget(
        segs, BudgetLeft(minutes, amount), rate=Decimal("100.00"), currency="USD"
    )
    # every worked minute in exactly one piece; held pieces bill nothing
    assert sum(p.minutes_worked for p in pieces) == sum(s.minutes_worked for s in segs)
    assert all(p.minutes_billed == 0 for p in pieces if p.held)
    within = sum(p.minutes_worked for p in pieces if not p.held)
    if minutes is not None:
        assert within <= max(minutes, 0)
        assert left.minutes == minutes - within
    if minutes is None and amount is None:
        assert not any(p.held for p in pieces)
    # the billed part comes first in time: no segment is billed after a held minute
    first_held = min((p.segment_index for p in pieces if p.held), default=len(segs))
    assert all(p.segment_index <= first_held for p in pieces if not p.held)
    # ids are unique
    assert len({p.index for p in pieces}) == len(pieces)


@given(
    amount=st.decimals(0, 5000, places=2),
    rate=st.decimals(1, 500, places=2),
    multiplier=st.sampled_from([ONE, Decimal("1.5"), Decimal("2")]),
)
def test_affordable_is_the_most_minutes_within_the_amount(
    amount: Decimal, rate: Decimal, multiplier: Decimal
) -> None:
    m = affordable(amount, rate, multiplier, "USD")
    assert price(rate, multiplier, m, "USD") <= amount
    assert price(rate, multiplier, m + 1, "USD") > amount
