"""sla-clock counts on the shared business calendar. The calendar's own tests (DST,
holidays, 24x7, hypothesis properties) are in `libs/events/tests/test_calendar.py`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msp_events.calendar as shared
import sla_clock.calendar as sla
from msp_events.samples import sample_contract_version


def test_sla_clock_uses_the_shared_calendar() -> None:
    assert sla.BusinessCalendar is shared.BusinessCalendar
    assert sla.add_business_time is shared.add_business_time
    assert sla.business_time_between is shared.business_time_between
    assert sla.calendar_for is shared.calendar_for


def test_contract_calendar_counts_business_hours_and_skips_holidays() -> None:
    version = sample_contract_version()
    cal = sla.calendar_for(version, "business_hours")
    assert cal.day_intervals(date(2026, 12, 25)) == ()
    start = cal.day_intervals(date(2026, 12, 24))[0][0]
    end = sla.add_business_time(cal, start, timedelta(hours=1))
    assert sla.business_time_between(cal, start, end) == timedelta(hours=1)
    assert end - start == timedelta(hours=1)
    assert start > datetime(2026, 12, 24, tzinfo=UTC)
