"""Counted fees (issue 17): the counting rule of counts.py and its place in the fee
portions and the invoice. One story per test; the figures are computed by hand."""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal

from billing_factory import NY, at, contract, local, managed_ny
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.counts import Sighting, count_units, seen_per_day
from billing.invoice import AccountingCodes, build_invoice
from billing.periods import days_of, local_midnight
from billing.proration import prorate_flat_fee
from billing.reconciliation import reconcile
from msp_events.types.billing import round_money

MARCH = days_of("2026-03")


def per_device(devices: int, unit: str = "12.00", **kw: object) -> object:
    fee = {"model": "per_device", "unit_price": Decimal(unit), "devices": devices}
    return managed_ny(flat_fee=fee, **kw)


def devices_on(day: date, n: int, prefix: str = "dev") -> dict[date, frozenset[str]]:
    return {day: frozenset(f"{prefix}-{i:03d}" for i in range(n))}


def test_52_devices_seen_against_50_contracted_at_12_bills_52() -> None:
    # The scenario: 50 contracted at 12.00, 52 distinct devices seen on one day.
    # Rule: max(contracted 50, peak seen 52) = 52 devices x 12.00 = 624.00 (whole month).
    ctr = contract(per_device(50))
    seen = {"device": {**devices_on(date(2026, 3, 3), 49), **devices_on(date(2026, 3, 17), 52)}}
    [portion] = prorate_flat_fee(ctr, "2026-03", NY, seen)
    assert portion.amount == Decimal("624.00")
    assert portion.counted is not None
    assert (portion.counted.contracted, portion.counted.peak_seen) == (50, 52)
    assert (portion.counted.billed, portion.counted.peak_day) == (52, date(2026, 3, 17))


def test_fewer_seen_than_contracted_bills_the_minimum_commitment() -> None:
    ctr = contract(per_device(50))
    [portion] = prorate_flat_fee(ctr, "2026-03", NY, {"device": devices_on(date(2026, 3, 9), 31)})
    assert portion.amount == Decimal("600.00")  # 50 x 12.00
    [nothing_seen] = prorate_flat_fee(ctr, "2026-03", NY, {})
    assert nothing_seen.amount == Decimal("600.00")
    assert nothing_seen.counted is not None and nothing_seen.counted.peak_day is None


def test_a_replaced_device_is_one_seat_not_two() -> None:
    # dev-old seen until the 10th, dev-new from the 11th: never two on one day.
    seen = {date(2026, 3, d): frozenset({"dev-old"}) for d in range(1, 11)}
    seen |= {date(2026, 3, d): frozenset({"dev-new"}) for d in range(11, 32)}
    counted = count_units(per_device(0), days=MARCH, seen=seen)  # type: ignore[arg-type]
    assert counted is not None and counted.billed == 1


def test_excluded_assets_never_count() -> None:
    v = per_device(1, excluded_assets=[{"asset_id": "dev-000", "reason": "customer-managed"}])
    counted = count_units(v, days=MARCH, seen=devices_on(date(2026, 3, 2), 3))  # type: ignore[arg-type]
    assert counted is not None and (counted.peak_seen, counted.billed) == (2, 2)


def test_mid_month_amendment_counts_each_portion_on_its_own_days() -> None:
    # v1 50 devices to the 14th, v2 60 devices from 15 March (local midnight, New York).
    # Seen: 55 on the 10th (v1 portion), 58 on the 20th (v2 portion, below its 60).
    # v1: 55 x 12.00 x 14/31 = 298.0645... -> 298.06; v2: 60 x 12.00 x 17/31 = 394.838... -> 394.84
    v2_from = local_midnight(date(2026, 3, 15), NY)
    ctr = contract(per_device(50), per_device(60, effective_from=v2_from))
    seen = {**devices_on(date(2026, 3, 10), 55), **devices_on(date(2026, 3, 20), 58)}
    first, second = prorate_flat_fee(ctr, "2026-03", NY, {"device": seen})
    assert (first.days, first.amount) == (14, Decimal("298.06"))
    assert (second.days, second.amount) == (17, Decimal("394.84"))
    assert first.counted is not None and first.counted.billed == 55
    assert second.counted is not None and second.counted.billed == 60


def test_per_user_fee_counts_users_not_devices() -> None:
    fee = {"model": "per_user", "unit_price": Decimal("8.00"), "users": 10}
    ctr = contract(managed_ny(flat_fee=fee))
    seen = {
        "user": devices_on(date(2026, 3, 5), 12, "u"),
        "device": devices_on(date(2026, 3, 5), 99),
    }
    [portion] = prorate_flat_fee(ctr, "2026-03", NY, seen)
    assert portion.amount == Decimal("96.00")  # 12 users x 8.00


def test_sightings_count_on_the_customer_local_day() -> None:
    # 03:30 UTC on 1 April is 23:30 on 31 March in New York (EDT, UTC-4): a March day.
    late = Sighting("device", "dev-1", at(2026, 4, 1, 3, 30), at(2026, 4, 1, 3, 30))
    # One UTC day's row seen at both ends spans two New York days.
    both = Sighting("device", "dev-2", at(2026, 3, 10, 2), at(2026, 3, 10, 20))
    user = Sighting("user", "u-1", at(2026, 3, 10, 12), at(2026, 3, 10, 12))
    days = seen_per_day([late, both, user], kind="device", timezone=NY)
    assert days == {
        date(2026, 3, 31): frozenset({"dev-1"}),
        date(2026, 3, 9): frozenset({"dev-2"}),
        date(2026, 3, 10): frozenset({"dev-2"}),
    }


def test_invoice_line_says_contracted_peak_and_billed() -> None:
    ctr = contract(per_device(50))
    invoice = build_invoice(
        customer_id="c1",
        period="2026-03",
        contract=ctr,
        items=[],
        issued_at=local(NY, 2026, 4, 1, 12),
        codes=AccountingCodes(),
        seen={"device": devices_on(date(2026, 3, 17), 52)},
    )
    assert invoice is not None
    [line] = invoice.lines
    assert (line.quantity, line.unit_amount, line.line_amount) == (
        52,
        Decimal("12.00"),
        Decimal("624.00"),
    )
    assert (
        "contracted 50 devices, peak seen 52 on 2026-03-17: billed 52 devices" in line.description
    )
    assert invoice.total == Decimal("624.00")


def test_reconciliation_new_and_missing_follow_the_inventory() -> None:
    # Snapshots on the 1st (a, b) and the 29th (b, c); a heartbeat from b on the 31st and
    # an alert from d (never listed) on the 10th must not make every asset "missing".
    def seen(asset: str, day: int, source: str, kind: str = "device") -> Sighting:
        instant = local(NY, 2026, 3, day, 12)
        return Sighting(kind, asset, instant, instant, frozenset({source}))  # type: ignore[arg-type]

    sightings = [
        seen("a", 1, "inventory"),
        seen("b", 1, "inventory"),
        seen("b", 29, "inventory"),
        seen("c", 29, "inventory"),
        seen("b", 31, "monitoring"),
        seen("d", 10, "monitoring"),
    ]
    report = reconcile(
        customer_id="c1", period="2026-03", contract=contract(per_device(2)), sightings=sightings
    )
    [devices] = report["kinds"]
    assert (devices["new"], devices["missing"], devices["unlisted"]) == (["c"], ["a"], ["d"])
    assert (devices["contracted"], devices["peak_seen"], devices["seen_in_month"]) == (2, 2, 4)
    assert devices["portions"][0]["amount"] == "24.00"


# --- properties of the rule -------------------------------------------------------------

asset_ids = st.sampled_from([f"dev-{i}" for i in range(12)])
daily = st.dictionaries(st.sampled_from(MARCH), st.frozensets(asset_ids, max_size=12), max_size=31)


@settings(max_examples=200, deadline=None)
@given(contracted=st.integers(0, 20), seen=daily, cents=st.integers(0, 100_000))
def test_billed_is_the_floor_or_the_peak_and_the_whole_month_is_unit_times_count(
    contracted: int, seen: dict[date, frozenset[str]], cents: int
) -> None:
    unit = Decimal(cents) / 100
    ctr = contract(per_device(contracted, unit=str(unit)))
    [portion] = prorate_flat_fee(ctr, "2026-03", NY, {"device": seen})
    counted = portion.counted
    assert counted is not None
    peak = max((len(ids) for ids in seen.values()), default=0)
    assert counted.billed == max(contracted, peak) >= contracted
    assert all(counted.billed >= len(ids) for ids in seen.values())
    assert portion.amount == unit * counted.billed


@settings(max_examples=150, deadline=None)
@given(split=st.integers(2, 31), seen=daily, a=st.integers(0, 20), b=st.integers(0, 20))
def test_each_portion_is_its_count_prorated_like_a_fixed_fee(
    split: int, seen: dict[date, frozenset[str]], a: int, b: int
) -> None:
    start = local_midnight(date(2026, 3, split), NY)
    ctr = contract(per_device(a, unit="12.00"), per_device(b, unit="12.00", effective_from=start))
    first, second = prorate_flat_fee(ctr, "2026-03", NY, {"device": seen})
    for portion, contracted in ((first, a), (second, b)):
        days = [portion.first_day + dt.timedelta(days=i) for i in range(portion.days)]
        peak = max((len(seen.get(d, ())) for d in days), default=0)
        billed = max(contracted, peak)
        assert portion.counted is not None and portion.counted.billed == billed
        expected = round_money(Decimal("12.00") * billed * portion.days / 31, "USD")
        assert portion.amount == expected
    assert first.days + second.days == 31


@settings(max_examples=150, deadline=None)
@given(seen=daily, more=daily)
def test_seeing_more_never_bills_less(
    seen: dict[date, frozenset[str]], more: dict[date, frozenset[str]]
) -> None:
    union = {
        d: seen.get(d, frozenset()) | more.get(d, frozenset()) for d in seen.keys() | more.keys()
    }
    v = per_device(3)
    few = count_units(v, days=MARCH, seen=seen)  # type: ignore[arg-type]
    many = count_units(v, days=MARCH, seen=union)  # type: ignore[arg-type]
    assert few is not None and many is not None and many.billed >= few.billed
