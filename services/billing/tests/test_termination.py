"""Terminations: the final month's flat fee is prorated to the termination instant, to
the minute, in the customer's zone; nothing is billed after it (proration.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing_factory import NY, contract, local, managed_ny
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.periods import local_midnight
from billing.proration import prorate_flat_fee, terminated_portion_amount
from msp_events.types.billing import round_money

BOGOTA = "America/Bogota"  # UTC-5 all year


def fixed_fee(amount: str, timezone: str = NY) -> object:
    return managed_ny(flat_fee={"model": "fixed", "amount": Decimal(amount)}, timezone=timezone)


def test_termination_at_22_00_local_on_the_20th_bills_19_days_and_1320_minutes() -> None:
    # 03:00 UTC on 21 November is 22:00 on the 20th in Bogota: the UTC date would be wrong
    ended = local(BOGOTA, 2026, 11, 20, 22)
    ctr = contract(fixed_fee("3000.00", BOGOTA), terminated_at=ended)  # type: ignore[arg-type]
    [p] = prorate_flat_fee(ctr, "2026-11", BOGOTA)
    assert (p.first_day, p.last_day, p.days, p.final_minutes) == (
        date(2026, 11, 1),
        date(2026, 11, 20),
        19,
        1320,
    )
    # by hand: 3000.00 x (19 x 1440 + 1320) / (30 x 1440) = 3000 x 28680 / 43200 = 1991.666..
    assert p.amount == Decimal("1991.67")
    assert prorate_flat_fee(ctr, "2026-12", BOGOTA) == []  # no flat fee after it


def test_seconds_are_not_billed_and_a_midnight_termination_is_whole_days() -> None:
    ended = local(BOGOTA, 2026, 11, 20, 0) + timedelta(minutes=1, seconds=59)
    [p] = prorate_flat_fee(
        contract(fixed_fee("3000.00", BOGOTA), terminated_at=ended),  # type: ignore[arg-type]
        "2026-11",
        BOGOTA,
    )
    assert (p.days, p.final_minutes) == (19, 1)
    at_midnight = contract(
        fixed_fee("3000.00", BOGOTA),  # type: ignore[arg-type]
        terminated_at=local_midnight(date(2026, 11, 20), BOGOTA),
    )
    [q] = prorate_flat_fee(at_midnight, "2026-11", BOGOTA)
    assert (q.days, q.final_minutes, q.amount) == (19, 0, Decimal("1900.00"))


def test_the_termination_day_of_a_dst_change_has_its_local_length() -> None:
    # New York, 1 November 2026 is 25 h long: 12:00 local is 780 of 1500 minutes
    ended = local(NY, 2026, 11, 1, 12)
    [p] = prorate_flat_fee(
        contract(fixed_fee("3000.00"), terminated_at=ended),  # type: ignore[arg-type]
        "2026-11",
        NY,
    )
    assert (p.days, p.final_minutes, p.final_day_minutes) == (0, 780, 1500)
    assert p.amount == Decimal("52.00")  # 3000 x 780 / (30 x 1500)


@settings(deadline=None)
@given(
    day=st.integers(1, 30),
    minute=st.integers(0, 1439),
    fee=st.decimals(Decimal("0.01"), Decimal("100000"), places=2),
)
def test_the_final_fee_is_the_minute_share_of_the_month(
    day: int, minute: int, fee: Decimal
) -> None:
    ended = local_midnight(date(2026, 11, day), BOGOTA) + timedelta(minutes=minute, seconds=30)
    ctr = contract(fixed_fee(str(fee), BOGOTA), terminated_at=ended)  # type: ignore[arg-type]
    portions = prorate_flat_fee(ctr, "2026-11", BOGOTA)
    billed_minutes = (day - 1) * 1440 + minute
    expected = round_money(fee * billed_minutes / (30 * 1440), "USD")
    assert sum(p.amount for p in portions) == expected
    assert expected <= fee
    assert prorate_flat_fee(ctr, "2026-12", BOGOTA) == []


@given(
    whole=st.integers(0, 29),
    minutes=st.integers(0, 1439),
    fee=st.decimals(Decimal("0"), Decimal("100000"), places=2),
)
def test_one_more_minute_never_bills_less(whole: int, minutes: int, fee: Decimal) -> None:
    def amount(m: int) -> Decimal:
        return terminated_portion_amount(
            fee, whole_days=whole, minutes=m, day_minutes=1440, days_in_month=30, currency="USD"
        )

    if minutes < 1439:
        assert amount(minutes) <= amount(minutes + 1)
    assert amount(minutes) <= fee
