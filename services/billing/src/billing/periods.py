"""Billing periods: calendar months in the customer's time zone.

An instant belongs to the month of its customer-local date, so work at 23:30 on
31 January in New York (04:30 UTC on 1 February) is January work for that customer.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The customer-local calendar date of a UTC instant."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(period: str) -> tuple[int, int]:
    year, month = period.split("-")
    return int(year), int(month)


def next_period(period: str) -> str:
    year, month = parse_period(period)
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_period(period: str) -> str:
    year, month = parse_period(period)
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def days_of(period: str) -> list[dt.date]:
    """Every local date of the month, in order."""
    year, month = parse_period(period)
    count = calendar.monthrange(year, month)[1]
    return [dt.date(year, month, d) for d in range(1, count + 1)]


def local_midnight(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant at which `day` starts in `timezone`."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)
