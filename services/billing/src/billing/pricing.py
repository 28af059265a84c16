"""What billable work costs: `price_entry(entry, version, billed=...)`.

Rules (issue 6, Deliver 2), all on the contract version in force when the work started:

* Rounding is per time entry: billed minutes = max(minimum, worked rounded UP to the
  increment). Two 15-minute entries under a 30-minute minimum bill 60 minutes; one
  30-minute entry bills 30. The minutes added by rounding go to the entry's last
  segment (the time "continues" past the end).
* Multipliers are judged minute by minute on the customer's calendar in the
  customer's time zone: a holiday, a Saturday/Sunday, or outside the calendar's
  business hours on another day; `emergency` applies to the whole entry. When several
  apply, the highest wins (they do not compound). An entry that crosses a boundary
  (e.g. 17:00-19:00 with hours ending at 18:00) is split into segments, one line item
  each, so every line is rate x multiplier x minutes.
* Work that is not billed (covered, warranty, held) is cut into the same segments, at
  multiplier 1 and zero minutes billed: managed customers never pay a premium for
  covered work, and an entry keeps its line item ids when it is reclassified.
* Business hours, holidays and local midnights come from the contract's business
  calendar (`msp_events.calendar`, the one sla-clock counts on): DST-correct, so a DST
  day has 23 or 25 hours and minutes worked are real elapsed minutes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from msp_events import EventValidationError, FieldError
from msp_events.bounds import MAX_TIME_ENTRY
from msp_events.calendar import BusinessCalendar, calendar_for
from msp_events.types.contracts import ContractVersion
from msp_events.types.tickets import TimeLogged

ONE = Decimal(1)
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Segment:
    started_at: dt.datetime
    minutes_worked: int
    minutes_billed: int
    multiplier: Decimal
    basis: str  # standard / after_hours / weekend / holiday, "+emergency" when flagged


def billed_minutes(worked: int, *, minimum: int, increment: int) -> int:
    """Per-entry rounding: up to the increment, then at least the minimum."""
    return max(minimum, math.ceil(worked / increment) * increment)


@dataclass(frozen=True)
class _Plan:
    """A version's calendar for the minute-by-minute rules: the contract's business
    calendar (shared with sla-clock: zone, holidays, open intervals and the cut instants
    of each local day, cached per date) and whether it has business hours at all."""

    calendar: BusinessCalendar
    has_business_hours: bool


# Plans by version object (contracts are parsed once and cached, see store.py): the
# calendar is looked up once per version, not once per entry. The version is kept in
# the value so its id cannot be reused while the entry exists.
_PLANS: dict[int, tuple[ContractVersion, _Plan]] = {}


def _plan(version: ContractVersion) -> _Plan:
    cached = _PLANS.get(id(version))
    if cached is not None and cached[0] is version:
        return cached[1]
    plan = _Plan(
        calendar=calendar_for(version, "business_hours"),
        has_business_hours=version.calendar.has_business_hours,
    )
    if len(_PLANS) > 50_000:
        _PLANS.clear()
    _PLANS[id(version)] = (version, plan)
    return plan


def _basis(instant: dt.datetime, plan: _Plan) -> str:
    """The multiplier basis of the time from `instant` to the next cut. Precedence is
    billing's: holiday, then weekend, then outside business hours."""
    calendar = plan.calendar
    day = calendar.local_date(instant)
    if calendar.is_holiday(day):
        return "holiday"
    if day.weekday() >= 5:  # sat, sun
        return "weekend"
    # A contract without business hours has no "after hours" (its calendar never opens).
    if not plan.has_business_hours or calendar.is_open(instant, day=day):
        return "standard"
    return "after_hours"


def _multiplier(basis: str, version: ContractVersion, emergency: bool) -> Decimal:
    rates = version.rates
    base = {
        "standard": ONE,
        "after_hours": rates.after_hours_multiplier,
        "weekend": rates.weekend_multiplier,
        "holiday": rates.holiday_multiplier,
    }[basis]
    return max(base, rates.emergency_multiplier) if emergency else base


def _boundaries(start: dt.datetime, end: dt.datetime, plan: _Plan) -> list[dt.datetime]:
    """Instants strictly inside (start, end) where the basis may change: local
    midnights, openings and closings (`BusinessCalendar.day_cuts`)."""
    calendar = plan.calendar
    day, last = calendar.local_date(start), calendar.local_date(end)
    found: list[dt.datetime] = []
    while day <= last:
        found += (i for i in calendar.day_cuts(day) if start < i < end)
        day += ONE_DAY
    return sorted(set(found))


def _month(instant: dt.datetime, tz: ZoneInfo) -> tuple[int, int]:
    local = instant.astimezone(tz)
    return local.year, local.month


def _offset(start: dt.datetime, instant: dt.datetime) -> int:
    return round((instant - start).total_seconds() / 60)


def split_entry(
    start: dt.datetime, end: dt.datetime, version: ContractVersion, *, emergency: bool
) -> list[Segment]:
    """Worked time cut at every change of multiplier basis and at the customer-local
    month end (adjacent equal pieces within a month merged). An entry longer than the
    contract allows (`MAX_TIME_ENTRY`) is refused before any cut: its line items would
    grow with its length (a record from an older producer can still carry one)."""
    if end - start > MAX_TIME_ENTRY:
        raise EventValidationError(
            [FieldError("/data/ended_at", f"an entry spans at most {MAX_TIME_ENTRY}")]
        )
    plan = _plan(version)
    tz = plan.calendar.zone
    cuts = [start, *_boundaries(start, end, plan), end]
    segments: list[Segment] = []
    for left, right in pairwise(cuts):
        minutes = _offset(start, right) - _offset(start, left)
        basis = _basis(left, plan)
        multiplier = _multiplier(basis, version, emergency)
        label = (
            f"{basis}+emergency"
            if emergency and multiplier != _multiplier(basis, version, False)
            else basis
        )
        same_month = bool(segments) and _month(segments[-1].started_at, tz) == _month(left, tz)
        if same_month and segments[-1].basis == label and segments[-1].multiplier == multiplier:
            prev = segments[-1]
            segments[-1] = Segment(
                prev.started_at, prev.minutes_worked + minutes, 0, multiplier, label
            )
        elif minutes > 0 or not segments:
            segments.append(Segment(left, minutes, 0, multiplier, label))
    return [s for s in segments if s.minutes_worked > 0] or segments[:1]


def price_entry(entry: TimeLogged, version: ContractVersion, *, billed: bool) -> list[Segment]:
    """The segments of an entry, with minutes billed (zero when not `billed`)."""
    segments = split_entry(entry.started_at, entry.ended_at, version, emergency=entry.emergency)
    if not billed:
        return [Segment(s.started_at, s.minutes_worked, 0, ONE, s.basis) for s in segments]
    worked = sum(s.minutes_worked for s in segments)
    rates = version.rates
    extra = billed_minutes(worked, minimum=rates.minimum_minutes, increment=rates.increment_minutes)
    extra -= worked
    out = [
        Segment(s.started_at, s.minutes_worked, s.minutes_worked, s.multiplier, s.basis)
        for s in segments
    ]
    last = out[-1]
    out[-1] = Segment(
        last.started_at,
        last.minutes_worked,
        last.minutes_billed + extra,
        last.multiplier,
        last.basis,
    )
    return out
