"""The contract's bounds: the instants, durations and list sizes an event may carry.

Two layers, so that no input can overflow arithmetic or amplify without limit:

* **Static, in every model** (checked by every decode, in every service): every
  instant in an envelope or payload lies in ``[EARLIEST, LATEST)`` (2000-01-01 to
  before 2100-01-01, UTC), so adding any SLA target, maintenance window or day to it
  stays far inside what `datetime` and Postgres can hold; a time entry spans at most
  `MAX_TIME_ENTRY` (24 h); input-driven lists carry at most the `max_length` their
  field names in the JSON Schema.
* **At the edge, by ingest** (`EventTimeWindow`, configurable per deployment): an
  event's ``time`` is not before ``not_before`` and not more than ``max_future`` past
  the ingest's clock. This is a policy about what outsiders may claim, not a fact of
  the record, so consumers of canonical topics do not re-check it: an event ingest
  accepted stays valid as wall time moves on, and a replay of last year's data is
  accepted as long as it is inside the static window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""The earliest instant any event may carry (inclusive)."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""The first instant no event may carry (exclusive)."""
INSTANT_RANGE = "from 2000-01-01T00:00:00Z up to (excluding) 2100-01-01T00:00:00Z"

MAX_TIME_ENTRY = timedelta(hours=24)
"""The longest span one `TimeLogged` may cover: longer work is logged as several
entries. Billing's line items per entry are bounded by it."""

DEFAULT_MAX_FUTURE = timedelta(days=1)
"""How far past the ingest's clock an event's ``time`` may be by default: clock skew
between sources, never a date in the far future."""


def check_instant(value: datetime) -> datetime:
    """`value` (tz-aware, UTC) if inside the static window, else a ValueError."""
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"instant out of range: must be {INSTANT_RANGE}")
    return value


def check_date(value: date) -> date:
    """A calendar date inside the static window (holidays and the like)."""
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("date out of range: must be from 2000-01-01 up to (excluding) 2100-01-01")
    return value


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _check_month(value: str) -> str:
    match = _MONTH.match(value)
    if match is None:  # the pattern already said so; kept for direct callers
        raise ValueError("must be YYYY-MM")
    if not EARLIEST.year <= int(match[1]) < LATEST.year:
        raise ValueError(f"month out of range: must be from 2000-01 to 2099-12, got {value}")
    return value


Month = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="A calendar month, YYYY-MM, from 2000-01 to 2099-12",
    ),
    AfterValidator(_check_month),
]
"""A month as the APIs and events write it (billing periods, SLA report months): the
contract's window in months, so the month after the last one is still computable."""


@dataclass(frozen=True)
class EventTimeWindow:
    """What ingest accepts as an event's ``time``: from `not_before` up to `max_future`
    past its clock. Both narrow the static window, never widen it."""

    not_before: datetime = EARLIEST
    max_future: timedelta = DEFAULT_MAX_FUTURE

    def __post_init__(self) -> None:
        if self.not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        if self.max_future < timedelta(0):
            raise ValueError("max_future must not be negative")

    def violation(self, time: datetime, *, now: datetime) -> str | None:
        """Why `time` is outside the window at `now`, or None when it is inside."""
        if time < self.not_before:
            return f"event time before {self.not_before.isoformat()}"
        latest = now + self.max_future
        if time > latest:
            return (
                f"event time more than {self.max_future} past the ingest's clock "
                f"(latest accepted now: {latest.isoformat()})"
            )
        return None
