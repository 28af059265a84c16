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
* Wall-clock boundaries are converted with zoneinfo, so a DST day has 23 or 25 hours
  and minutes worked are real elapsed minutes.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from msp_events.types.contracts import WEEKDAYS, ContractVersion
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
    """A version's calendar, pre-digested for the minute-by-minute rules: the zone,
    the holiday dates, and per weekday (Monday = 0) the business-hour ranges and their
    edges in minutes after local midnight."""

    zone: ZoneInfo
    holidays: frozenset[dt.date]
    has_business_hours: bool
    ranges: tuple[tuple[tuple[int, int], ...], ...]
    edges: tuple[tuple[int, ...], ...]
    day_edges: dict[dt.date, tuple[dt.datetime, ...]] = field(default_factory=dict, compare=False)
    """`_day_edges` of each local date seen so far, as UTC instants."""


# Plans by version object (contracts are parsed once and cached, see store.py): the
# calendar is digested once per version, not once per entry. The version is kept in
# the value so its id cannot be reused while the entry exists.
_PLANS: dict[int, tuple[ContractVersion, _Plan]] = {}


def _plan(version: ContractVersion) -> _Plan:
    cached = _PLANS.get(id(version))
    if cached is not None and cached[0] is version:
        return cached[1]
    calendar = version.calendar
    ranges = tuple(
        tuple((r.start_minute, r.end_minute) for r in calendar.weekly_hours.get(day, []))
        for day in WEEKDAYS
    )
    plan = _Plan(
        zone=ZoneInfo(version.timezone),
        holidays=frozenset(h.date for h in calendar.holidays),
        has_business_hours=calendar.has_business_hours,
        ranges=ranges,
        edges=tuple(tuple(sorted({m for r in day for m in r})) for day in ranges),
    )
    if len(_PLANS) > 50_000:
        _PLANS.clear()
    _PLANS[id(version)] = (version, plan)
    return plan


def _basis(local: dt.datetime, plan: _Plan) -> str:
    day = local.date()
    if day in plan.holidays:
        return "holiday"
    weekday = day.weekday()
    if weekday >= 5:  # sat, sun
        return "weekend"
    if not plan.has_business_hours:
        return "standard"
    minute = local.hour * 60 + local.minute
    if any(start <= minute < end for start, end in plan.ranges[weekday]):
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


@functools.lru_cache(maxsize=65_536)
def _day_edges(day: dt.date, timezone: str, minutes: tuple[int, ...]) -> tuple[dt.datetime, ...]:
    """Local midnight and the business-hour edges of `day`, as UTC instants (cached:
    the same few days and calendars come up again and again)."""
    tz = ZoneInfo(timezone)
    out = []
    for m in (0, *minutes):
        local = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=m)
        # naive wall-clock arithmetic, then attach the zone: DST resolved per instant
        out.append(local.replace(tzinfo=tz).astimezone(dt.UTC))
    return tuple(out)


def _boundaries(
    start: dt.datetime, end: dt.datetime, version: ContractVersion, plan: _Plan
) -> list[dt.datetime]:
    """Instants strictly inside (start, end) where the basis may change: local
    midnights and business-hour edges, converted to UTC."""
    first, last = start.astimezone(plan.zone).date(), end.astimezone(plan.zone).date()
    found: list[dt.datetime] = []
    day = first
    while day <= last:
        edges = plan.day_edges.get(day)
        if edges is None:
            if len(plan.day_edges) > 4096:
                plan.day_edges.clear()
            edges = plan.day_edges[day] = _day_edges(
                day, version.timezone, plan.edges[day.weekday()]
            )
        found += (i for i in edges if start < i < end)
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
    month end (adjacent equal pieces within a month merged)."""
    plan = _plan(version)
    tz = plan.zone
    cuts = [start, *_boundaries(start, end, version, plan), end]
    segments: list[Segment] = []
    for left, right in pairwise(cuts):
        minutes = _offset(start, right) - _offset(start, left)
        basis = _basis(left.astimezone(tz), plan)
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
