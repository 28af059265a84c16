"""Included hours: allowance, overage, rollover and proration (pure rules,
`billing/included_hours.py`). One story per test; hypothesis for the invariants."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from billing_factory import NY, contract, entry, local, managed_ny
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.budgets import consume
from billing.classification import Decision
from billing.contracts import ContractState
from billing.included_hours import CoveredLine, apply_allowance, monthly_allowance, settle
from billing.line_items import build_line_items
from billing.periods import local_midnight
from msp_events.types.billing import LineItemRecorded, price

COVERED = Decision("covered", "covered_category", "routine work covered by the flat fee")


def block(hours: str = "10", **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "hours_per_month": Decimal(hours),
        "categories": ["help_desk"],
        "overage_hourly": Decimal("150.00"),
    }
    fields.update(kw)
    return fields


def with_block(*, effective_from: Any = None, **kw: Any) -> Any:
    when = {} if effective_from is None else {"effective_from": effective_from}
    return managed_ny(
        covered_categories=["help_desk", "patching"], included_hours=block(**kw), **when
    )


def covered_lines(ctr: ContractState, *entries: Any) -> list[CoveredLine]:
    out = []
    for e in entries:
        for item in build_line_items(
            e, source_event_id=f"src-{e.entry_id}", decision=COVERED, contract=ctr, last_closed=None
        ):
            out.append(CoveredLine(item, e.work_category, 1))
    return out


def test_ten_included_twelve_worked_bills_two_hours_overage_at_the_rate() -> None:
    ctr = contract(with_block())
    lines = covered_lines(
        ctr,
        entry(local(NY, 2026, 3, 2, 9), 240),
        entry(local(NY, 2026, 3, 9, 9), 240),
        entry(local(NY, 2026, 3, 16, 9), 240),  # crosses: 120 within, 120 beyond
    )
    applied = apply_allowance(contract=ctr, period="2026-03", lines=lines, rollover_in=0)
    assert applied is not None
    settlement, [change] = applied
    assert (settlement.allowance, settlement.used, settlement.overage) == (600, 720, 120)
    kept, overage = change.items
    assert (kept.classification, kept.minutes_worked, kept.line_item_id) == (
        "covered",
        120,
        change.old.line_item_id,
    )
    assert (overage.classification, overage.rule) == ("overage", "included_hours_overage")
    assert (overage.minutes_worked, overage.minutes_billed) == (120, 120)
    assert overage.amount == Decimal("300.00")  # 2 h x USD 150.00, by hand
    assert "10.00 h allowance" in overage.reason and "12.00 h used" in overage.reason


def test_a_line_wholly_beyond_the_allowance_becomes_overage_under_its_own_id() -> None:
    ctr = contract(with_block(hours="1"))
    lines = covered_lines(
        ctr, entry(local(NY, 2026, 3, 2, 9), 60), entry(local(NY, 2026, 3, 3, 9), 45)
    )
    applied = apply_allowance(contract=ctr, period="2026-03", lines=lines, rollover_in=0)
    assert applied is not None
    _, [change] = applied
    [line] = change.items
    assert line.line_item_id == lines[1].item.line_item_id
    assert (line.minutes_billed, line.amount) == (45, Decimal("112.50"))


def test_categories_outside_the_block_and_other_versions_do_not_count() -> None:
    ctr = contract(with_block(hours="1"))
    lines = covered_lines(
        ctr, entry(local(NY, 2026, 3, 2, 9), 120, "patching"), entry(local(NY, 2026, 3, 3, 9), 60)
    )
    applied = apply_allowance(contract=ctr, period="2026-03", lines=lines, rollover_in=0)
    assert applied is not None and applied[0].used == 60 and applied[1] == []


def test_no_included_hours_no_settlement() -> None:
    ctr = contract(managed_ny())
    assert apply_allowance(contract=ctr, period="2026-03", lines=[], rollover_in=0) is None


def test_rollover_none_expires_and_capped_carries_at_most_the_cap() -> None:
    assert settle(allowance=600, rollover_in=0, used=420, cap=0).rollover_out == 0
    assert settle(allowance=600, rollover_in=0, used=420, cap=120).rollover_out == 120
    assert settle(allowance=600, rollover_in=0, used=540, cap=120).rollover_out == 60


def test_rolled_over_hours_are_used_first_and_never_compound() -> None:
    # 10 h + 2 h carried, 11 h used: 1 h of the own allowance is unused, 1 h carries on
    s = settle(allowance=600, rollover_in=120, used=660, cap=120)
    assert (s.overage, s.rollover_out) == (0, 60)
    # 13 h used: 1 h overage, nothing carried
    s = settle(allowance=600, rollover_in=120, used=780, cap=120)
    assert (s.overage, s.rollover_out) == (60, 0)


def test_rolled_over_hours_absorb_what_would_be_overage() -> None:
    ctr = contract(with_block(rollover="capped", rollover_cap_hours=Decimal("2")))
    lines = covered_lines(ctr, *(entry(local(NY, 2026, 4, d, 9), 240) for d in (6, 7, 8)))
    applied = apply_allowance(contract=ctr, period="2026-04", lines=lines, rollover_in=120)
    assert applied is not None
    settlement, changes = applied
    assert (settlement.overage, settlement.rollover_out, changes) == (0, 0, [])


def test_mid_month_amendment_prorates_the_allowance_by_days() -> None:
    # 10 h until 16 March (15 days), 20 h from then (16 days) of a 31-day month
    change = local_midnight(date(2026, 3, 16), NY)
    ctr = contract(with_block(), with_block(hours="20", effective_from=change))
    a, b = monthly_allowance(ctr, "2026-03")
    assert (a.days, a.minutes) == (15, 290)  # 600 x 15 / 31 = 290.3
    assert (b.days, b.minutes) == (16, 619)  # 1200 x 16 / 31 = 619.35


def test_the_contract_refuses_included_categories_that_are_not_covered() -> None:
    with pytest.raises(ValidationError) as caught:
        managed_ny(covered_categories=["patching"], included_hours=block())
    assert caught.value.errors()[0]["loc"] == ("included_hours",)
    assert "not covered: help_desk" in str(caught.value)


def test_capped_rollover_needs_its_cap() -> None:
    with pytest.raises(ValidationError, match="rollover_cap_hours"):
        managed_ny(covered_categories=["help_desk"], included_hours=block(rollover="capped"))


@given(
    pieces=st.lists(st.integers(0, 600), max_size=30),
    available=st.integers(-10, 5000),
)
def test_consume_splits_every_piece_in_order(pieces: list[int], available: int) -> None:
    split = consume(pieces, available)
    assert [w + o for w, o in split] == pieces
    assert sum(w for w, _ in split) == min(sum(pieces), max(available, 0))
    # once a piece goes over, nothing after it is within
    over_seen = False
    for within, over in split:
        assert not (over_seen and within)
        over_seen = over_seen or over > 0


@given(
    allowance=st.integers(0, 50_000),
    rollover_in=st.integers(0, 10_000),
    used=st.integers(0, 100_000),
    cap=st.integers(0, 10_000),
)
def test_settlement_invariants(allowance: int, rollover_in: int, used: int, cap: int) -> None:
    s = settle(allowance=allowance, rollover_in=rollover_in, used=used, cap=cap)
    assert s.overage == max(0, used - allowance - rollover_in)
    assert s.included + s.overage == used
    assert 0 <= s.rollover_out <= min(cap, allowance)
    assert s.rollover_out + min(used, allowance + rollover_in) <= allowance + rollover_in + cap
    if used <= rollover_in:  # nothing of the own allowance used
        assert s.rollover_out == min(cap, allowance)


@settings(deadline=None, max_examples=60)
@given(
    hours=st.integers(1, 40),
    minutes=st.lists(st.integers(1, 16).map(lambda q: q * 15), min_size=1, max_size=12),
)
def test_overage_is_exactly_the_minutes_beyond_priced_at_the_rate(
    hours: int, minutes: list[int]
) -> None:
    ctr = contract(with_block(hours=str(hours)))
    entries = [entry(local(NY, 2026, 3, 2 + i, 9), m) for i, m in enumerate(minutes)]
    lines = covered_lines(ctr, *entries)
    applied = apply_allowance(contract=ctr, period="2026-03", lines=lines, rollover_in=0)
    assert applied is not None
    settlement, changes = applied
    items: list[LineItemRecorded] = [i for c in changes for i in c.items]
    over = [i for i in items if i.classification == "overage"]
    assert sum(i.minutes_billed for i in over) == max(0, sum(minutes) - hours * 60)
    assert settlement.overage == sum(i.minutes_billed for i in over)
    for i in over:
        assert i.amount == price(Decimal("150.00"), Decimal(1), i.minutes_billed, "USD")
    # minutes are conserved: what a change replaces, it replaces minute for minute
    for c in changes:
        assert sum(i.minutes_worked for i in c.items) == c.old.minutes_worked


@settings(deadline=None)
@given(split=st.integers(2, 28), month=st.integers(1, 12), hours=st.integers(1, 200))
def test_an_amendment_keeping_the_allowance_keeps_it_within_a_minute(
    split: int, month: int, hours: int
) -> None:
    # two portions, each rounded to a whole minute once: at most a minute off the month
    change = local_midnight(date(2026, month, split), NY)
    ctr = contract(
        with_block(hours=str(hours)), with_block(hours=str(hours), effective_from=change)
    )
    portions = monthly_allowance(ctr, f"2026-{month:02d}")
    assert [p.version for p in portions] == [1, 2]
    assert abs(sum(p.minutes for p in portions) - hours * 60) <= 1
