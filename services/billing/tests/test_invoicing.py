"""Periods, proration, the invoice and credit notes (issue 6, Deliver 3 and 8)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from billing_factory import NY, at, contract, entry, local, managed_ny, on_demand_ny
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.classification import Decision
from billing.credit_notes import build_credit_note
from billing.invoice import AccountingCodes, build_invoice, invoice_id
from billing.line_items import billing_period, build_line_items
from billing.periods import days_of, local_midnight
from billing.proration import prorate_flat_fee
from msp_events.types.billing import LineItemRecorded, round_money

CODES = AccountingCodes(tax_code="TAX")
PROJECT = Decision("project", "approved_change_order", "install, CO-1", "CO-1")


def lines_for(
    e: object, decision: Decision, ctr: object, closed: str | None = None
) -> list[LineItemRecorded]:
    return build_line_items(
        e,  # type: ignore[arg-type]
        source_event_id=f"src-{e.entry_id}",  # type: ignore[attr-defined]
        decision=decision,
        contract=ctr,  # type: ignore[arg-type]
        last_closed=closed,
    )


def test_month_boundary_in_a_utc_minus_5_customer() -> None:
    # 2026-02-01 03:30 UTC is 31 January 22:30 in New York: January work
    ctr = contract(on_demand_ny())
    [line] = lines_for(entry(at(2026, 2, 1, 3, 30), 30), Decision("on_demand", "r", "x"), ctr)
    assert (line.work_date, line.period, line.prior_period) == (date(2026, 1, 31), "2026-01", False)


def test_billed_entry_crossing_local_month_end_is_split_by_month() -> None:
    ctr = contract(on_demand_ny())
    e = entry(local(NY, 2026, 1, 31, 23, 30), 60)  # Saturday -> Sunday 1 February
    lines = lines_for(e, Decision("on_demand", "r", "x"), ctr)
    assert [(li.period, li.minutes_worked) for li in lines] == [("2026-01", 30), ("2026-02", 30)]


def test_late_entry_after_close_is_a_prior_period_line_next_month() -> None:
    assert billing_period(date(2026, 1, 15), None) == ("2026-01", False)
    assert billing_period(date(2026, 1, 15), "2026-01") == ("2026-02", True)
    assert billing_period(date(2025, 12, 15), "2026-02") == ("2026-03", True)
    assert billing_period(date(2026, 3, 1), "2026-02") == ("2026-03", False)
    ctr = contract(managed_ny())
    [line] = lines_for(
        entry(local(NY, 2026, 1, 20, 10), 60, "installation"), PROJECT, ctr, "2026-01"
    )
    assert (line.period, line.prior_period, line.work_date) == ("2026-02", True, date(2026, 1, 20))
    invoice = build_invoice(
        customer_id="c1",
        period="2026-02",
        contract=ctr,
        items=[line],
        issued_at=at(2026, 3, 1, 12),
        codes=CODES,
    )
    assert invoice is not None
    work = [li for li in invoice.lines if li.classification == "project"]
    assert len(work) == 1 and "prior period: 2026-01-20" in work[0].description
    assert work[0].service_date == date(2026, 1, 20)


def fixed_fee(amount: str = "3000.00", **kw: object) -> object:
    return managed_ny(flat_fee={"model": "fixed", "amount": Decimal(amount)}, **kw)


@pytest.mark.parametrize(
    ("period", "length"), [("2026-01", 31), ("2026-04", 30), ("2026-02", 28), ("2028-02", 29)]
)
def test_proration_by_days_of_the_month_with_a_mid_month_change(period: str, length: int) -> None:
    assert len(days_of(period)) == length
    year, month = map(int, period.split("-"))
    change = local_midnight(date(year, month, 11), NY)  # version 2 from the 11th
    ctr = contract(fixed_fee("3000.00"), fixed_fee("4500.00", effective_from=change))
    first, second = prorate_flat_fee(ctr, period, NY)
    assert (first.days, second.days) == (10, length - 10)
    assert first.amount == round_money(Decimal(3000) * 10 / length, "USD")
    assert second.amount == round_money(Decimal(4500) * (length - 10) / length, "USD")
    assert (first.first_day, second.last_day) == (date(year, month, 1), date(year, month, length))


def test_full_month_bills_the_whole_fee_and_midday_changes_count_from_next_day() -> None:
    ctr = contract(fixed_fee("1000.00"))
    [whole] = prorate_flat_fee(ctr, "2026-02", NY)
    assert (whole.amount, whole.full_month) == (Decimal("1000.00"), True)
    midday = contract(
        fixed_fee("1000.00"), fixed_fee("2000.00", effective_from=local(NY, 2026, 2, 14, 12))
    )
    a, b = prorate_flat_fee(midday, "2026-02", NY)
    assert (a.days, b.days, b.first_day) == (14, 14, date(2026, 2, 15))


def test_termination_and_on_demand_days_carry_no_fee() -> None:
    ended = contract(fixed_fee("3100.00"), terminated_at=local_midnight(date(2026, 3, 21), NY))
    [p] = prorate_flat_fee(ended, "2026-03", NY)
    assert (p.days, p.amount) == (20, Decimal("2000.00"))
    assert prorate_flat_fee(contract(on_demand_ny()), "2026-03", NY) == []


@settings(deadline=None)
@given(split=st.integers(2, 28), month=st.integers(1, 12))
def test_proration_days_cover_the_month_once(split: int, month: int) -> None:
    period = f"2026-{month:02d}"
    change = local_midnight(date(2026, month, split), NY)
    ctr = contract(fixed_fee("1000.00"), fixed_fee("1000.00", effective_from=change))
    portions = prorate_flat_fee(ctr, period, NY)
    assert sum(p.days for p in portions) == len(days_of(period))
    # same fee both sides: the two roundings stay within a cent of the monthly fee
    assert abs(sum(p.amount for p in portions) - Decimal("1000.00")) <= Decimal("0.01")


def month_items(ctr: object) -> list[LineItemRecorded]:
    items = []
    items += lines_for(entry(local(NY, 2026, 3, 10, 10), 90, "installation"), PROJECT, ctr)
    items += lines_for(
        entry(local(NY, 2026, 3, 11, 10), 60, "help_desk", warranty_claim_ref="RMA-1"),
        Decision("warranty", "warranty_claim", "RMA-1"),
        ctr,
    )
    items += lines_for(
        entry(local(NY, 2026, 3, 12, 10), 60, "installation"),
        Decision("scope_creep", "no_change_order", "no CO"),
        ctr,
    )
    items += lines_for(
        entry(local(NY, 2026, 3, 12, 11), 45, "patching"),
        Decision("covered", "covered_category", "routine"),
        ctr,
    )
    items += lines_for(
        entry(local(NY, 2026, 3, 13, 11), 45, "gardening"),
        Decision("held_review", "unclassified", "unclassified"),
        ctr,
    )
    return items


def test_invoice_has_fee_billable_and_no_charge_warranty_lines_only() -> None:
    ctr = contract(managed_ny())
    items = month_items(ctr)
    issued = at(2026, 4, 1, 12)
    invoice = build_invoice(
        customer_id="c1", period="2026-03", contract=ctr, items=items, issued_at=issued, codes=CODES
    )
    assert invoice is not None
    kinds = [line.classification for line in invoice.lines]
    assert kinds == ["flat_fee", "project", "warranty"]  # no scope creep, covered or held
    fee, project, warranty = invoice.lines
    assert (fee.line_amount, project.line_amount, warranty.line_amount) == (
        Decimal("1000.00"),
        Decimal("150.00"),
        Decimal("0.00"),
    )
    assert (project.quantity, project.unit_amount) == (Decimal("1.5"), Decimal("100.00"))
    assert project.tax_code == "TAX" and project.item_code == CODES.project_item
    assert invoice.total == Decimal("1150.00") == invoice.subtotal
    again = build_invoice(
        customer_id="c1", period="2026-03", contract=ctr, items=items, issued_at=issued, codes=CODES
    )
    assert again == invoice and invoice.invoice_id == invoice_id("c1", "2026-03")
    assert invoice_id("c1", "2026-04") != invoice.invoice_id != invoice_id("c2", "2026-03")


def test_odd_minutes_keep_quantity_times_unit_equal_to_the_amount() -> None:
    ctr = contract(
        on_demand_ny(
            rates={
                **on_demand_ny().rates.model_dump(),
                "minimum_minutes": 0,
                "increment_minutes": 1,
            }
        )
    )
    items = lines_for(entry(local(NY, 2026, 3, 10, 10), 25), Decision("on_demand", "r", "x"), ctr)
    invoice = build_invoice(
        customer_id="c1",
        period="2026-03",
        contract=ctr,
        items=items,
        issued_at=at(2026, 4, 2),
        codes=CODES,
    )
    assert invoice is not None
    [line] = invoice.lines
    assert line.line_amount == items[0].amount == Decimal("41.67")


def test_mid_month_contract_change_gives_two_fee_lines() -> None:
    change = local_midnight(date(2026, 3, 16), NY)
    ctr = contract(fixed_fee("3100.00"), fixed_fee("6200.00", effective_from=change))
    invoice = build_invoice(
        customer_id="c1",
        period="2026-03",
        contract=ctr,
        items=[],
        issued_at=at(2026, 4, 1, 12),
        codes=CODES,
    )
    assert invoice is not None
    assert [line.line_amount for line in invoice.lines] == [Decimal("1500.00"), Decimal("3200.00")]
    assert "15/31 days" in invoice.lines[0].description


def test_nothing_to_invoice_for_an_idle_on_demand_customer() -> None:
    assert (
        build_invoice(
            customer_id="c1",
            period="2026-03",
            contract=contract(on_demand_ny()),
            items=[],
            issued_at=datetime(2026, 4, 2, tzinfo=UTC),
            codes=CODES,
        )
        is None
    )


def test_credit_note_credits_whole_lines_and_releases_exactly_their_items() -> None:
    ctr = contract(managed_ny())
    items = month_items(ctr)
    invoice = build_invoice(
        customer_id="c1",
        period="2026-03",
        contract=ctr,
        items=items,
        issued_at=at(2026, 4, 1, 12),
        codes=CODES,
    )
    assert invoice is not None
    project = invoice.lines[1]
    note, released = build_credit_note(
        invoice, line_ids=[project.line_id], reason="disputed", issued_at=at(2026, 4, 3)
    )
    assert note.total == project.line_amount == Decimal("150.00")
    assert released == project.source_line_item_ids == [items[0].line_item_id]
    assert note.invoice_id == invoice.invoice_id and note.lines[0].line_id != project.line_id
    same, _ = build_credit_note(
        invoice, line_ids=[project.line_id], reason="disputed", issued_at=at(2026, 4, 3)
    )
    assert same.credit_note_id == note.credit_note_id
    with pytest.raises(ValueError, match="already credited"):
        build_credit_note(
            invoice,
            line_ids=[project.line_id],
            reason="again",
            issued_at=at(2026, 4, 3),
            already_credited={project.line_id},
        )
    with pytest.raises(ValueError, match="not a line"):
        build_credit_note(invoice, line_ids=["il-nope"], reason="x", issued_at=at(2026, 4, 3))
    fee_note, fee_released = build_credit_note(
        invoice, line_ids=[invoice.lines[0].line_id], reason="SLA credit", issued_at=at(2026, 4, 3)
    )
    assert fee_released == [] and fee_note.total == Decimal("1000.00")


def test_rate_of_the_version_in_force_on_the_work_date() -> None:
    change = local_midnight(date(2026, 3, 16), NY)
    old = on_demand_ny()
    new_rates = {**old.rates.model_dump(), "standard_hourly": Decimal("120.00")}
    ctr = contract(old, on_demand_ny(effective_from=change, rates=new_rates))
    decision = Decision("on_demand", "on_demand_contract", "on demand")
    [before] = lines_for(entry(local(NY, 2026, 3, 13, 10), 60), decision, ctr)
    [after] = lines_for(entry(local(NY, 2026, 3, 17, 10), 60), decision, ctr)
    assert (before.rate, before.amount, before.contract_version) == (
        Decimal("100.00"),
        Decimal("100.00"),
        1,
    )
    assert (after.rate, after.amount, after.contract_version) == (
        Decimal("120.00"),
        Decimal("120.00"),
        2,
    )


@pytest.mark.parametrize(
    ("fee", "quantity", "unit", "amount"),
    [
        ({"model": "fixed", "amount": Decimal("900")}, Decimal(1), Decimal(900), Decimal(900)),
        (
            {"model": "per_user", "unit_price": Decimal("45.00"), "users": 38},
            Decimal(38),
            Decimal("45.00"),
            Decimal("1710.00"),
        ),
        (
            {"model": "per_device", "unit_price": Decimal("12.50"), "devices": 20},
            Decimal(20),
            Decimal("12.50"),
            Decimal("250.00"),
        ),
    ],
)
def test_flat_fee_models_on_the_invoice(
    fee: dict[str, object], quantity: Decimal, unit: Decimal, amount: Decimal
) -> None:
    ctr = contract(managed_ny(flat_fee=fee))
    invoice = build_invoice(
        customer_id="c1",
        period="2026-03",
        contract=ctr,
        items=[],
        issued_at=at(2026, 4, 1, 12),
        codes=CODES,
    )
    assert invoice is not None
    [line] = invoice.lines
    assert (line.quantity, line.unit_amount, line.line_amount) == (quantity, unit, amount)
    assert (line.item_code, line.service_date) == (CODES.flat_fee_item, date(2026, 3, 1))
