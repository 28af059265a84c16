"""Change-order budgets: `split_at_budget(segments, left, ...)`, the pure rule that
decides which minutes of authorised project work fit in what is left of its change
order's `budget_minutes` / `budget_amount`, and which are held for the customer's
approval of the overrun.

Rules:

* Consumption: the minutes worked (the logged time) of the change order's `project`
  line items count against `budget_minutes`; their amounts against `budget_amount`.
  Work is consumed in the order billing records it (arrival order per customer, the
  same on every replay; a late approval releases in the same order).
* Split: an entry's segments are consumed in time order; the segment that crosses the
  budget is split at the minute: the part within keeps the segment's id and is billed,
  the rest becomes a new segment id of the same entry and is held; later segments are
  held whole (even a cheaper one that would still fit an amount). With an amount
  budget, a segment's affordable minutes are the most whose price (rate x multiplier,
  rounded per line) stays within the amount left.
* Rounding: the entry's minimum/increment extra (on its last segment) is billed with
  that segment's part within the budget, if it has one; released overrun is billed
  minute-exact at its segment's multiplier.
* Held work: classification `scope_creep`, rule `change_order_budget_exceeded`, not
  billed; an overrun approval (`ChangeOrderOverrunApproved`) releases the held work
  that ended by its `approved_at` (service.py: `release_overrun`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.pricing import Segment
from msp_events.types.billing import price


def consume(pieces: Sequence[int], available: int) -> list[tuple[int, int]]:
    """Consume `available` minutes over `pieces` (minutes, in order): per piece, the
    minutes within what is left and the minutes beyond it. Shared by the change-order
    budgets and the included hours (`included_hours.py`)."""
    left = max(available, 0)
    out = []
    for minutes in pieces:
        within = min(minutes, left)
        left -= within
        out.append((within, minutes - within))
    return out


@dataclass(frozen=True)
class BudgetLeft:
    """What is left of a change order's budget (None: that dimension is unlimited)."""

    minutes: int | None
    amount: Decimal | None

    @property
    def limited(self) -> bool:
        return self.minutes is not None or self.amount is not None


@dataclass(frozen=True)
class Piece:
    """A billed (`held` False) or held part of the entry's segment `segment_index`;
    `index` is its line item's segment id."""

    index: int
    segment_index: int
    segment: Segment
    minutes_worked: int
    minutes_billed: int
    held: bool


def affordable(amount: Decimal, rate: Decimal, multiplier: Decimal, currency: str) -> int:
    """The most minutes whose price stays within `amount` (rounding per line)."""
    per_hour = rate * multiplier
    if amount <= 0:
        return 0
    minutes = int(amount * 60 / per_hour) if per_hour > 0 else 10**9
    # the estimate is off by the per-line rounding: at most a minute or two either way
    while minutes > 0 and price(rate, multiplier, minutes, currency) > amount:
        minutes -= 1
    while per_hour > 0 and price(rate, multiplier, minutes + 1, currency) <= amount:
        minutes += 1
    return minutes


def split_at_budget(
    segments: Sequence[Segment], left: BudgetLeft, *, rate: Decimal, currency: str
) -> tuple[list[Piece], BudgetLeft]:
    """The pieces of a billed entry's `segments` (from `pricing.price_entry`) and what
    is left of the budget after them. Every worked minute is in exactly one piece."""
    pieces: list[Piece] = []
    minutes_left, amount_left = left.minutes, left.amount
    held_tail: list[Piece] = []
    for index, seg in enumerate(segments):
        # once a minute is held, so is every later one (a cheaper later segment could
        # still fit an amount budget, but the work is billed in time order)
        room = 0 if held_tail else seg.minutes_worked
        if minutes_left is not None:
            room = min(room, minutes_left)
        if amount_left is not None:
            room = min(room, affordable(amount_left, rate, seg.multiplier, currency))
        [(within, over)] = consume([seg.minutes_worked], room)
        if within:
            billed = within + seg.minutes_billed - seg.minutes_worked  # + rounding extra
            pieces.append(Piece(index, index, seg, within, billed, held=False))
            if minutes_left is not None:
                minutes_left -= within
            if amount_left is not None:
                amount_left -= price(rate, seg.multiplier, billed, currency)
        if over:
            # a split segment's held part gets the next free index, after every segment
            held_index = len(segments) if within else index
            held_tail.append(Piece(held_index, index, seg, over, 0, held=True))
    return pieces + held_tail, BudgetLeft(minutes_left, amount_left)
