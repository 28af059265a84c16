"""The calendar SLA clocks count business time on. It is the contract's business
calendar, shared with billing's after-hours rule, so it lives in `msp_events.calendar`
(UTC open intervals per local day, DST, holidays, 24x7); nothing about it is specific to
SLAs. This module names what sla-clock uses, so its imports read `sla_clock.calendar`."""

from __future__ import annotations

from msp_events.calendar import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    calendar_for,
)

__all__ = ["BusinessCalendar", "add_business_time", "business_time_between", "calendar_for"]
