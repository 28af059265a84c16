"""Pricing rules (issue 6, Deliver 2 and 8): per-entry rounding, multipliers on the
customer's calendar and time zone, splitting at boundaries, DST, no managed premium."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from billing_factory import NY, at, contract, entry, local, managed_ny, on_demand_ny
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.classification import Decision
from billing.line_items import build_line_items
from billing.pricing import billed_minutes, price_entry, split_entry
from msp_events.types.billing import price

ON_DEMAND = on_demand_ny()
BILL = Decision("on_demand", "on_demand_contract", "on-demand customer")


def amounts(e: object, v: object = ON_DEMAND) -> list[tuple[int, int, Decimal]]:
    segs = price_entry(e, v, billed=True)  # type: ignore[arg-type]
    return [(s.minutes_worked, s.minutes_billed, s.multiplier) for s in segs]


def test_two_15_minute_entries_cost_more_than_one_30_minute_entry() -> None:
    # minimum 30, increment 15, applied per entry
    two = [billed_minutes(15, minimum=30, increment=15) for _ in range(2)]
    assert two == [30, 30]
    assert billed_minutes(30, minimum=30, increment=15) == 30
    start = local(NY, 2026, 3, 10, 10)
    first = build_line_items(
        entry(start, 15),
        source_event_id="a",
        decision=BILL,
        contract=contract(ON_DEMAND),
        last_closed=None,
    )
    one = build_line_items(
        entry(start, 30),
        source_event_id="b",
        decision=BILL,
        contract=contract(ON_DEMAND),
        last_closed=None,
    )
    assert 2 * first[0].amount == Decimal("100.00")
    assert one[0].amount == Decimal("50.00")


def test_increment_rounds_up() -> None:
    assert billed_minutes(31, minimum=30, increment=15) == 45
    assert billed_minutes(45, minimum=30, increment=15) == 45
    assert billed_minutes(1, minimum=0, increment=6) == 6


@settings(deadline=None)
@given(worked=st.integers(0, 5000), minimum=st.integers(0, 120), inc=st.integers(1, 60))
def test_rounding_properties(worked: int, minimum: int, inc: int) -> None:
    billed = billed_minutes(worked, minimum=minimum, increment=inc)
    assert billed >= worked and billed >= minimum
    assert billed == minimum or (billed % inc == 0 and billed - worked < inc)


def test_entry_crossing_18_local_is_split() -> None:
    # Tuesday 17:00-19:00 in New York (EST): 60 min standard, 60 min after hours x1.5
    e = entry(local(NY, 2026, 1, 13, 17), 120)
    assert amounts(e) == [(60, 60, Decimal(1)), (60, 60, Decimal("1.5"))]
    lines = build_line_items(
        e, source_event_id="x", decision=BILL, contract=contract(ON_DEMAND), last_closed=None
    )
    assert [line.amount for line in lines] == [Decimal("100.00"), Decimal("150.00")]
    assert "after hours" in lines[1].reason
    assert len({line.line_item_id for line in lines}) == 2


def test_boundary_is_judged_in_the_customer_time_zone() -> None:
    # 17:00-19:00 UTC is 12:00-14:00 in New York: all standard
    assert amounts(entry(at(2026, 1, 13, 17), 120)) == [(120, 120, Decimal(1))]


def test_rounding_extra_goes_to_the_last_segment() -> None:
    e = entry(local(NY, 2026, 1, 13, 17, 50), 20)  # 10 std + 10 after hours -> billed 30
    assert amounts(e) == [(10, 10, Decimal(1)), (10, 20, Decimal("1.5"))]


def test_dst_spring_forward_day_counts_real_minutes() -> None:
    # Sunday 2026-03-08, New York: 01:00 EST to 04:00 EDT is 2 real hours, weekend rate
    start, end = local(NY, 2026, 3, 8, 1), local(NY, 2026, 3, 8, 4)
    e = entry(start, (end - start).total_seconds() / 60)
    assert amounts(e) == [(120, 120, Decimal("1.75"))]


def test_dst_fall_back_day_counts_real_minutes() -> None:
    # Sunday 2026-11-01: 00:30 EDT to 03:30 EST is 4 real hours
    start, end = local(NY, 2026, 11, 1, 0, 30), local(NY, 2026, 11, 1, 3, 30)
    assert (end - start).total_seconds() == 4 * 3600
    assert amounts(entry(start, 240)) == [(240, 240, Decimal("1.75"))]


def test_business_hours_after_dst_change_use_the_new_offset() -> None:
    # Monday 2026-03-09 (now EDT, UTC-4): 18:00 local is 22:00 UTC
    e = entry(at(2026, 3, 9, 21), 120)  # 17:00-19:00 EDT
    assert amounts(e) == [(60, 60, Decimal(1)), (60, 60, Decimal("1.5"))]


def test_weekend_holiday_and_emergency_take_the_highest_multiplier() -> None:
    assert amounts(entry(local(NY, 2026, 3, 14, 10), 60)) == [(60, 60, Decimal("1.75"))]
    assert amounts(entry(local(NY, 2026, 7, 3, 10), 60)) == [(60, 60, Decimal(2))]
    assert amounts(entry(local(NY, 2026, 3, 10, 10), 60, emergency=True)) == [(60, 60, Decimal(2))]


def test_entry_crossing_midnight_into_a_weekend() -> None:
    e = entry(local(NY, 2026, 3, 13, 23), 120)  # Friday 23:00 -> Saturday 01:00
    assert amounts(e) == [(60, 60, Decimal("1.5")), (60, 60, Decimal("1.75"))]


def test_managed_covered_work_has_no_premium() -> None:
    managed = managed_ny()
    e = entry(local(NY, 2026, 3, 14, 22), 90)  # Saturday night
    segs = price_entry(e, managed, billed=False)
    assert all(s.multiplier == 1 and s.minutes_billed == 0 for s in segs)
    lines = build_line_items(
        e,
        source_event_id="c",
        decision=Decision("covered", "covered_category", "routine"),
        contract=contract(managed),
        last_closed=None,
    )
    assert sum(line.amount for line in lines) == 0


starts = st.datetimes(
    min_value=at(2026, 1, 1).replace(tzinfo=None), max_value=at(2026, 12, 30).replace(tzinfo=None)
)


@settings(deadline=None)
@given(start=starts, minutes=st.integers(1, 24 * 60), emergency=st.booleans())
def test_segments_add_up(start: object, minutes: int, emergency: bool) -> None:
    from datetime import UTC

    e = entry(start.replace(tzinfo=UTC), minutes, emergency=emergency)  # type: ignore[attr-defined]
    segs = price_entry(e, ON_DEMAND, billed=True)
    assert sum(s.minutes_worked for s in segs) == minutes
    assert sum(s.minutes_billed for s in segs) == billed_minutes(minutes, minimum=30, increment=15)
    assert all(s.multiplier >= 1 for s in segs)
    for a, b in pairwise(segs):  # cut only where the rate or the local month changes
        months = {(s.started_at.astimezone(ZoneInfo(NY)).month) for s in (a, b)}
        assert a.multiplier != b.multiplier or a.basis != b.basis or len(months) == 2
    total = sum(price(Decimal(100), s.multiplier, s.minutes_billed, "USD") for s in segs)
    assert total >= price(Decimal(100), Decimal(1), minutes, "USD")


DECISIONS = [
    Decision("covered", "covered_category", "routine"),
    Decision("on_demand", "on_demand_contract", "hourly"),
    Decision("project", "approved_change_order", "install; authorised", "CO-1"),
    Decision("scope_creep", "no_change_order", "install without a change order"),
    Decision("warranty", "warranty_claim", "RMA 1"),
]


# What the envelope writes around a line: customer ids of every allowed character, a
# trace with or without a tracestate that needs escaping, odd event times.
customer_ids = st.sampled_from(["cust-1", "a", "Ab9.x_y:z@w/v-u"])
tracestates = st.one_of(st.none(), st.text(max_size=40).filter(lambda t: "\x00" not in t))
traced = st.one_of(
    st.none(), tracestates.map(lambda state: ("00-" + "ab" * 16 + "-" + "cd" * 8 + "-01", state))
)
times = st.datetimes(
    min_value=at(2026, 1, 1).replace(tzinfo=None), max_value=at(2026, 12, 30).replace(tzinfo=None)
)


@settings(deadline=None, max_examples=80)
@given(
    start=starts,
    minutes=st.integers(1, 24 * 60),
    emergency=st.booleans(),
    decision=st.sampled_from(DECISIONS),
    closed=st.sampled_from([None, "2026-01", "2026-06"]),
    customer_id=customer_ids,
    trace=traced,
    time=times,
)
def test_constructed_line_items_validate(
    start: object,
    minutes: int,
    emergency: bool,
    decision: Decision,
    closed: str | None,
    customer_id: str,
    trace: tuple[str, str | None] | None,
    time: object,
) -> None:
    """The hot path builds LineItemRecorded without re-validation
    (`line_items._line_item`) and writes its envelope without building one
    (`outputs.Sink.line_item`): the line must pass full validation, and the bytes must
    equal those of the validating path (`make_event`, `Tx.emit`, `encode`), with the
    time entry's trace continued when the entry is an input of the batch."""
    from datetime import UTC

    from billing.outputs import Sink
    from msp_events import decode, encode, make_event
    from msp_events.types.billing import LineItemRecorded
    from msp_plumbing.consumer import Tx

    e = entry(start.replace(tzinfo=UTC), minutes, emergency=emergency)  # type: ignore[attr-defined]
    at_time = time.replace(tzinfo=UTC)  # type: ignore[attr-defined]
    lines = build_line_items(
        e,
        source_event_id="te-1",
        decision=decision,
        contract=contract(ON_DEMAND),
        last_closed=closed,
    )
    cause = make_event(e, customer_id=customer_id, source="/psa", time=at_time, id="te-1")
    if trace is not None:
        cause = cause.model_copy(update={"traceparent": trace[0], "tracestate": trace[1]})
    tx = Tx(conn=None, namespace="ns_", inputs={"te-1": cause})  # type: ignore[arg-type]
    sink = Sink(tx, "ns_")
    for line in lines:
        validated = LineItemRecorded.model_validate(line.model_dump())
        assert validated == line
        assert validated.model_dump_json() == line.model_dump_json()
        stored = sink.line_item(line, customer_id=customer_id, time=at_time, revision=1)
        # the line_items row's JSON, from the payload written for the envelope: the
        # same members and values as the model's own JSON (jsonb keeps no order)
        assert json.loads(stored) == json.loads(line.model_dump_json())
        assert LineItemRecorded.model_validate_json(stored) == line
    slow_tx = Tx(conn=None, namespace="ns_", inputs={"te-1": cause})  # type: ignore[arg-type]
    for line, record in zip(lines, tx.outbox, strict=True):
        slow = make_event(
            LineItemRecorded.model_validate(line.model_dump()),
            customer_id=customer_id,
            source="/billing",
            time=at_time,
            subject=line.line_item_id,
            id=record.event_id,
            cause=cause,
        )
        slow_tx.emit(slow, cause="te-1")
        assert record == slow_tx.outbox[-1]
        assert record.value == encode(slow).value
        assert decode(record.value) == slow
        assert record.topic == "ns_msp.billing.line-items.v1"
        assert (slow.traceparent is None) == (trace is None)


def test_an_out_of_range_line_still_fails_validation() -> None:
    """A line the fast path cannot vouch for (here: an amount past Money's 18 digits)
    goes through the validating constructor, so the record still becomes a dead
    letter."""
    import pytest
    from pydantic import ValidationError

    rates = ON_DEMAND.rates.model_copy(update={"standard_hourly": Decimal("9" * 14)})
    huge = ON_DEMAND.model_copy(update={"rates": rates})
    e = entry(at(2026, 3, 2, 14), 600)
    with pytest.raises(ValidationError, match="amount"):
        build_line_items(
            e,
            source_event_id="te-1",
            decision=DECISIONS[1],
            contract=contract(huge),
            last_closed=None,
        )


@given(parts=st.lists(st.text(st.characters(exclude_categories=["Cs"])), min_size=1, max_size=4))
def test_derived_ids_are_uuid5(parts: list[str]) -> None:
    """`derive_event_id` skips building UUID objects (hot path); the ids must stay exactly
    uuid5(namespace, parts joined by US), or a replay after an upgrade would re-bill."""
    import uuid

    from msp_events import derive_event_id
    from msp_events.serde import EVENT_ID_NAMESPACE

    assert derive_event_id(*parts) == str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))


def test_an_entry_longer_than_the_contract_allows_is_refused_before_any_cut() -> None:
    """A 1,000-year entry (from a producer older than the contract's bound) is refused
    at once, naming the field: never one line item per after-hours stretch."""
    from datetime import timedelta

    from msp_events import EventValidationError
    from msp_events.bounds import MAX_TIME_ENTRY

    start = at(2026, 3, 10, 9)
    with pytest.raises(EventValidationError) as refused:
        split_entry(start, start + timedelta(days=365_000), ON_DEMAND, emergency=False)
    assert [e.pointer for e in refused.value.errors] == ["/data/ended_at"]
    assert split_entry(start, start + MAX_TIME_ENTRY, ON_DEMAND, emergency=False)


@settings(deadline=None)
@given(start=starts, minutes=st.integers(1, 24 * 60), emergency=st.booleans())
def test_line_items_per_entry_are_bounded(start: object, minutes: int, emergency: bool) -> None:
    """An entry of at most a day cuts into at most 8 segments (business hours open and
    close on two local days, midnight, month end): line items cannot amplify."""
    from datetime import UTC, timedelta

    begin = start.replace(tzinfo=UTC)  # type: ignore[attr-defined]
    segments = split_entry(
        begin, begin + timedelta(minutes=minutes), ON_DEMAND, emergency=emergency
    )
    assert 1 <= len(segments) <= 8
