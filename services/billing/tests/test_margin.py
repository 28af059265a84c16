"""Margin per customer and utilisation per technician: the pure rules (margin.py), one
hand-computed story and properties over any work."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.margin import Work, cost_rate, customer_margin, utilisation
from msp_events.money import quantum

RATES = {
    "*": {"USD": Decimal("45.00"), "JPY": Decimal("6000")},
    "tech-ana": {"USD": Decimal("52.00")},
}


def test_margin_of_a_month_by_hand() -> None:
    work = [
        Work("tech-ana", "covered", 600),  # 10 h x 52.00 = 520.00
        Work("tech-ben", "project", 90),  # 1.5 h x 45.00 (the default) = 67.50
        Work("tech-ana", "warranty", 30),  # 0.5 h x 52.00 = 26.00
        Work("tech-ana", "covered", 45),  # same group as the first: 645 min = 559.00
    ]
    m = customer_margin(
        customer_id="cust-001", period="2026-03", currency="USD",
        revenue=Decimal("2901.00"), work=work, rates=RATES,
    )  # fmt: skip
    assert m.cost_by_classification == {
        "covered": Decimal("559.00"), "project": Decimal("67.50"), "warranty": Decimal("26.00")
    }  # fmt: skip
    assert m.cost == Decimal("652.50")
    assert m.margin == Decimal("2248.50")
    assert m.margin_ratio == Decimal("0.7751")  # 2248.50 / 2901.00
    assert m.minutes_by_classification == {"covered": 645, "project": 90, "warranty": 30}
    assert m.uncosted_minutes == 0


def test_a_technician_without_a_rate_is_uncosted_not_priced() -> None:
    m = customer_margin(
        customer_id="cust-002", period="2026-03", currency="EUR", revenue=Decimal("100.00"),
        work=[Work("tech-ana", "covered", 120)], rates=RATES,
    )  # fmt: skip
    assert (m.cost, m.uncosted_minutes, m.margin) == (Decimal(0), 120, Decimal("100.00"))


def test_no_revenue_has_no_ratio_and_a_negative_margin() -> None:
    m = customer_margin(
        customer_id="cust-003", period="2026-03", currency="JPY", revenue=Decimal(0),
        work=[Work("tech-cho", "covered", 50)], rates=RATES,
    )  # fmt: skip
    assert m.cost == Decimal("5000") and m.margin == Decimal("-5000") and m.margin_ratio is None


def test_utilisation_by_hand() -> None:
    [ana, ben] = utilisation(
        [Work("tech-ben", "covered", 60), Work("tech-ana", "project", 120),
         Work("tech-ana", "on_demand", 60), Work("tech-ana", "covered", 180),
         Work("tech-ana", "overage", 60), Work("tech-ana", "scope_creep", 60)]
    )  # fmt: skip
    assert ana.technician_id == "tech-ana" and ana.worked_minutes == 480
    assert ana.billable_minutes == 240  # project + on-demand + overage
    assert ana.billable_ratio == Decimal("0.5000")
    assert ben.billable_ratio == Decimal(0)


def test_own_rate_wins_over_the_default() -> None:
    assert cost_rate(RATES, "tech-ana", "USD") == Decimal("52.00")
    assert cost_rate(RATES, "tech-ana", "JPY") == Decimal("6000")
    assert cost_rate(RATES, "tech-zed", "GBP") is None


KINDS = st.sampled_from(["covered", "project", "on_demand", "overage", "warranty", "held_review"])
WORK = st.lists(
    st.builds(Work, st.sampled_from(["tech-ana", "tech-ben", "tech-x"]), KINDS,
              st.integers(0, 24 * 60)),
    max_size=40,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    work=WORK,
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
    revenue=st.decimals(min_value=0, max_value=10**6, places=0),
    rate=st.decimals(min_value=0, max_value=500, places=2),
    order=st.randoms(use_true_random=False),
)
def test_margin_properties(
    work: list[Work], currency: str, revenue: Decimal, rate: Decimal, order: object
) -> None:
    rates = {"tech-ana": {currency: rate}, "tech-ben": {currency: rate}}  # none for tech-x
    m = customer_margin(
        customer_id="c",
        period="2026-03",
        currency=currency,
        revenue=revenue,
        work=work,
        rates=rates,
    )
    shuffled = list(work)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert customer_margin(
        customer_id="c", period="2026-03", currency=currency, revenue=revenue, work=shuffled,
        rates=rates,
    ) == m  # fmt: skip
    assert m.margin == revenue - m.cost
    assert m.cost == sum(m.cost_by_classification.values(), Decimal(0)) >= 0
    assert sum(m.minutes_by_classification.values()) == sum(w.minutes for w in work)
    assert m.uncosted_minutes == sum(w.minutes for w in work if w.technician_id == "tech-x")
    costed = sum(w.minutes for w in work if w.technician_id != "tech-x")
    exact = rate * costed / 60
    groups = len({(w.technician_id, w.classification) for w in work})
    assert abs(m.cost - exact) <= groups * quantum(currency) / 2  # rounded once per group
    assert m.cost % quantum(currency) == 0
    if revenue > 0:
        assert m.margin_ratio is not None and m.margin_ratio <= 1


@settings(max_examples=100, deadline=None)
@given(work=WORK)
def test_utilisation_properties(work: list[Work]) -> None:
    found = utilisation(work)
    assert [u.technician_id for u in found] == sorted({w.technician_id for w in work})
    for u in found:
        mine = [w for w in work if w.technician_id == u.technician_id]
        assert u.worked_minutes == sum(w.minutes for w in mine)
        assert u.billable_minutes <= u.worked_minutes
        ratio = u.billable_ratio
        assert ratio is None if u.worked_minutes == 0 else 0 <= ratio <= 1
