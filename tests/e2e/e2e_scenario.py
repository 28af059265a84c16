"""The end-to-end story: one managed customer's June 2026, as the upstream systems
would send it, and what the system must make of it, computed here independently of
the services (our own business-time arithmetic and money rounding, from the contract's
calendar, SLA targets and rates).

The customer is in New York (EDT, UTC-4 all June), open Mon-Fri 09:00-17:00, with
Juneteenth (Friday 19 June) a holiday. Timeline, local time:

* Thu 18 Jun 15:00:00-15:00:11  twelve workstations at site-hq go offline (Alertmanager)
* Thu 15:05-15:50               technician works the proactive ticket (covered, 45 min)
* Thu 15:10                     first public agent reply (first response met: 10 min)
* Thu 16:00                     waiting on the customer (resolution clock pauses at 1 h)
* Thu 16:30                     the customer answered: in progress again
* Mon 22 Jun 09:30-10:30        technician works it again (covered, 60 min)
* Mon 22 Jun 15:30              the 8 business hours of the P2 resolution target are
                                up: breach (Thu 15:00-16:00 + 16:30-17:00, Friday is a
                                holiday, weekend, Monday 09:00-15:30)
* Tue 23 Jun 10:00-12:10        firewall installation under approved change order
* Wed 24 Jun 13:00-14:30        server OS upgrade without a change order: scope creep
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.types.change_orders import ChangeOrderApproved
from msp_events.types.contracts import (
    BusinessCalendar,
    ContractSnapshot,
    ContractVersion,
    FlatFee,
    Holiday,
    MonitoringCoverage,
    Rates,
    SlaPolicy,
    SlaTarget,
    TimeRange,
)
from msp_events.types.tickets import (
    TicketAssigned,
    TicketCommentAdded,
    TicketCreated,
    TicketStatusChanged,
    TimeLogged,
)

CUSTOMER = "e2e-acme"
CONTRACT_ID = "CTR-E2E-ACME"
TZ = ZoneInfo("America/New_York")
OPEN, CLOSE = time(9, 0), time(17, 0)
HOLIDAYS = {dt.date(2026, 6, 19): "Juneteenth", dt.date(2026, 7, 3): "Independence Day (obs.)"}
PERIOD = "2026-06"
INVOICE_AS_OF = "2026-07-01T12:00:00Z"  # after June ended in New York

P2_FIRST_RESPONSE_MIN = 30
P2_RESOLUTION_MIN = 480
RATE = Decimal("135.00")
MINIMUM_MIN, INCREMENT_MIN = 30, 15
DEVICES, DEVICE_PRICE = 24, Decimal("42.50")

SITE = "site-hq"
STORM_DEVICES = [f"ws-{i:02d}" for i in range(1, 13)]
CHANGE_ORDER = "CO-2026-031"
PROJECT_TICKET, CREEP_TICKET = "PSA-7001", "PSA-7002"


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A June 2026 New York wall-clock time, as a UTC instant."""
    return datetime(2026, 6, day, hour, minute, second, tzinfo=TZ).astimezone(UTC)


STORM_START = local(18, 15, 0, 0)


# -- the contract ---------------------------------------------------------------------
def contract_version() -> ContractVersion:
    office = [TimeRange(start=OPEN, end=CLOSE)]
    return ContractVersion(
        version=1,
        effective_from=datetime(2026, 1, 1, 5, 0, tzinfo=UTC),  # local midnight
        tier="managed",
        timezone="America/New_York",
        calendar=BusinessCalendar(
            weekly_hours={d: office for d in ("mon", "tue", "wed", "thu", "fri")},
            holidays=[Holiday(date=d, name=n) for d, n in HOLIDAYS.items()],
        ),
        sla=SlaPolicy(
            targets=[
                SlaTarget(
                    priority="P1",
                    first_response_minutes=15,
                    resolution_minutes=240,
                    coverage="24x7",
                ),
                SlaTarget(
                    priority="P2",
                    first_response_minutes=P2_FIRST_RESPONSE_MIN,
                    resolution_minutes=P2_RESOLUTION_MIN,
                    coverage="business_hours",
                ),
                # P3 shares P2's coverage: the P3 -> P2 escalation of the storm ticket
                # (keep_elapsed) then leaves the deadline where P2 alone would put it.
                SlaTarget(
                    priority="P3",
                    first_response_minutes=60,
                    resolution_minutes=960,
                    coverage="business_hours",
                ),
                SlaTarget(
                    priority="P4",
                    first_response_minutes=240,
                    resolution_minutes=2400,
                    coverage="business_hours",
                ),
            ],
        ),
        monitoring=MonitoringCoverage(enabled=True, coverage="24x7"),
        covered_categories=["help_desk", "monitoring", "patching", "backup"],
        project_categories=["installation", "upgrade", "migration"],
        project_size_threshold_minutes=600,
        rates=Rates(
            currency="USD",
            standard_hourly=RATE,
            after_hours_multiplier=Decimal("1"),
            weekend_multiplier=Decimal("1"),
            holiday_multiplier=Decimal("1"),
            emergency_multiplier=Decimal("1.5"),
            minimum_minutes=MINIMUM_MIN,
            increment_minutes=INCREMENT_MIN,
        ),
        flat_fee=FlatFee(model="per_device", unit_price=DEVICE_PRICE, devices=DEVICES),
        uptime_target_percent=Decimal("99.5"),
        rationale="Managed IT for Acme's New York office, signed 2025-12-15.",
    )


def _event(data: EventData, when: datetime, id: str, source: str) -> Envelope:
    subject = getattr(data, "ticket_id", None)
    return make_event(
        data, customer_id=CUSTOMER, source=source, time=when, id=f"e2e-{id}", subject=subject
    )


def contract_event() -> Envelope:
    snapshot = ContractSnapshot(contract_id=CONTRACT_ID, versions=[contract_version()])
    return _event(snapshot, datetime(2025, 12, 15, tzinfo=UTC), "contract-v1", "/crm")


def change_order_event() -> Envelope:
    approved = local(1, 10)
    data = ChangeOrderApproved(
        change_order_id=CHANGE_ORDER,
        ticket_ids=[PROJECT_TICKET],
        scope="Install and configure the new HQ firewall",
        work_categories=["installation"],
        approved_by="cfo@acme.example",
        approved_at=approved,
    )
    return _event(data, approved, "co-031", "/crm")


# -- the Alertmanager storm -------------------------------------------------------------
def _alert(index: int) -> dict[str, Any]:
    starts = STORM_START + timedelta(seconds=index)
    return {
        "status": "firing",
        "labels": {
            "alertname": "DeviceOffline",
            "customer": CUSTOMER,
            "instance": STORM_DEVICES[index],
            "site": SITE,
            "severity": "critical",
            "check_kind": "device_offline",
        },
        "annotations": {"summary": f"{STORM_DEVICES[index]} stopped answering"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.acme.example/graph?g0.expr=up",
        "fingerprint": f"acme-offline-{STORM_DEVICES[index]}",
    }


def alertmanager_group(count: int) -> dict[str, Any]:
    """The group notification as Alertmanager sends it: every alert of the group that
    is firing so far (a later notification repeats the earlier alerts)."""
    return {
        "receiver": "msp-ingest",
        "status": "firing",
        "alerts": [_alert(i) for i in range(count)],
        "groupLabels": {"site": SITE},
        "commonLabels": {"customer": CUSTOMER, "site": SITE, "alertname": "DeviceOffline"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.acme.example",
        "version": "4",
        "groupKey": '{}:{site="site-hq"}',
        "truncatedAlerts": 0,
    }


# -- the PSA ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    entry_id: str
    ticket_id: str
    start: datetime
    end: datetime
    category: str
    change_order_id: str | None = None

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def event(self) -> Envelope:
        data = TimeLogged(
            entry_id=self.entry_id,
            ticket_id=self.ticket_id,
            technician_id="tech-maria",
            started_at=self.start,
            ended_at=self.end,
            work_category=self.category,
            change_order_id=self.change_order_id,
        )
        return _event(data, self.end, f"te-{self.entry_id}", "/psa")


def covered_entries(ticket: str) -> list[Entry]:
    return [
        Entry("TE-101", ticket, local(18, 15, 5), local(18, 15, 50), "monitoring"),
        Entry("TE-102", ticket, local(22, 9, 30), local(22, 10, 30), "monitoring"),
    ]


PROJECT_ENTRY = Entry(
    "TE-201", PROJECT_TICKET, local(23, 10), local(23, 12, 10), "installation", CHANGE_ORDER
)
CREEP_ENTRY = Entry("TE-301", CREEP_TICKET, local(24, 13), local(24, 14, 30), "upgrade")

PAUSED_AT, RESUMED_AT = local(18, 16), local(18, 16, 30)
FIRST_REPLY_AT = local(18, 15, 10)


def storm_ticket_until_pause(ticket: str) -> list[Envelope]:
    """The PSA works the proactive ticket until it waits on the customer."""
    first, _ = covered_entries(ticket)
    picked_up = local(18, 15, 4)
    return [
        _event(
            TicketAssigned(ticket_id=ticket, technician_id="tech-maria", assigned_at=picked_up),
            picked_up,
            "storm-assigned",
            "/psa",
        ),
        _event(
            TicketStatusChanged(
                ticket_id=ticket, status="in_progress", previous_status="new", changed_at=picked_up
            ),
            picked_up,
            "storm-in-progress",
            "/psa",
        ),
        _event(
            TicketCommentAdded(
                ticket_id=ticket,
                comment_id="c-1",
                author_kind="agent",
                author_id="tech-maria",
                public=True,
                body="We see site-hq offline and are on it.",
                added_at=FIRST_REPLY_AT,
            ),
            FIRST_REPLY_AT,
            "storm-reply",
            "/psa",
        ),
        first.event(),
        _event(
            TicketStatusChanged(
                ticket_id=ticket,
                status="waiting_on_customer",
                previous_status="in_progress",
                reason="Need the ISP account number to open a case",
                changed_at=PAUSED_AT,
            ),
            PAUSED_AT,
            "storm-waiting",
            "/psa",
        ),
    ]


def storm_ticket_after_pause(ticket: str) -> list[Envelope]:
    _, second = covered_entries(ticket)
    resumed = TicketStatusChanged(
        ticket_id=ticket,
        status="in_progress",
        previous_status="waiting_on_customer",
        reason="Customer sent the account number",
        changed_at=RESUMED_AT,
    )
    return [_event(resumed, RESUMED_AT, "storm-resumed", "/psa"), second.event()]


def project_work() -> list[Envelope]:
    """Two PSA tickets and their entries; their event times (Tue/Wed) move sla-clock's
    event time past the storm ticket's deadline."""
    tickets = [
        (PROJECT_TICKET, "Install the new HQ firewall", "installation", local(23, 9)),
        (CREEP_TICKET, "Upgrade the accounting server OS", "upgrade", local(24, 9)),
    ]
    out = []
    for (ticket, title, category, opened), entry in zip(
        tickets, (PROJECT_ENTRY, CREEP_ENTRY), strict=True
    ):
        data = TicketCreated(
            ticket_id=ticket,
            title=title,
            priority="P4",
            category=category,
            source="portal",
            opened_at=opened,
        )
        out += [_event(data, opened, f"{ticket}-created", "/psa"), entry.event()]
    return out


# -- what must come out, computed independently ----------------------------------------
def _open_intervals(day: dt.date) -> tuple[datetime, datetime] | None:
    if day.weekday() >= 5 or day in HOLIDAYS:
        return None
    return (
        datetime.combine(day, OPEN, tzinfo=TZ).astimezone(UTC),
        datetime.combine(day, CLOSE, tzinfo=TZ).astimezone(UTC),
    )


def business_between(a: datetime, b: datetime) -> timedelta:
    total = timedelta(0)
    day = a.astimezone(TZ).date()
    while day <= b.astimezone(TZ).date():
        hours = _open_intervals(day)
        if hours is not None:
            lo, hi = max(hours[0], a), min(hours[1], b)
            total += max(hi - lo, timedelta(0))
        day += timedelta(days=1)
    return total


def add_business(start: datetime, duration: timedelta) -> datetime:
    remaining = duration
    day = start.astimezone(TZ).date()
    for _ in range(366):
        hours = _open_intervals(day)
        if hours is not None:
            lo = max(hours[0], start)
            if hours[1] > lo:
                if remaining <= hours[1] - lo:
                    return lo + remaining
                remaining -= hours[1] - lo
        day += timedelta(days=1)
    raise AssertionError("no business time within a year")


@dataclass(frozen=True)
class SlaExpectation:
    opened_at: datetime
    first_response_elapsed_s: int
    elapsed_at_pause_s: int
    resolution_due: datetime
    warnings: dict[int, datetime]


def expected_sla() -> SlaExpectation:
    """The P2 resolution clock: counted from the ticket's opening to the pause, then
    from the resumption on, until the target's business minutes are used up."""
    target = timedelta(minutes=P2_RESOLUTION_MIN)
    before_pause = business_between(STORM_START, PAUSED_AT)

    def instant(percent: int) -> datetime:
        return add_business(RESUMED_AT, target * percent / 100 - before_pause)

    return SlaExpectation(
        opened_at=STORM_START,
        first_response_elapsed_s=int(business_between(STORM_START, FIRST_REPLY_AT).total_seconds()),
        elapsed_at_pause_s=int(before_pause.total_seconds()),
        resolution_due=instant(100),
        warnings={75: instant(75), 90: instant(90)},
    )


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def billed_minutes(worked: int) -> int:
    return max(MINIMUM_MIN, math.ceil(worked / INCREMENT_MIN) * INCREMENT_MIN)


def expected_project_amount() -> Decimal:
    return cents(RATE * billed_minutes(PROJECT_ENTRY.minutes) / 60)


def expected_flat_fee() -> Decimal:
    return cents(DEVICE_PRICE * DEVICES)  # the whole of June under version 1


def expected_invoice_total() -> Decimal:
    return expected_flat_fee() + expected_project_amount()
