"""A small month of one managed customer, built with the msp_events types: what the
mspctl tests publish, rebuild and export.

Customer `cust-a` (the samples' managed contract: Europe/London, office hours, P2 first
response 30 business minutes) in March 2026 (GMT until the 29th):
- T-1 (P2): answered in 10 min, resolved: both clocks met; 30 min help desk (covered).
- T-2 (P2): first answer after 2 h: first response breached; 2 h installation without a
  change order (scope creep).
- T-3 (P4): 1 h installation under approved change order CO-1 (project, billed).
- a failed nightly backup on 10 March: an incident (and its proactive ticket).
- T-4 (P3) on 2 April moves event time past the end of March.
`cust-b` has one ticket, so exports can show they hold nothing of another customer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.types.change_orders import ChangeOrderApproved
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import AlertFiring
from msp_events.types.tickets import (
    TicketCommentAdded,
    TicketCreated,
    TicketResolved,
    TimeLogged,
)

CUSTOMER = "cust-a"
OTHER = "cust-b"
PERIOD = "2026-03"
INVOICE_AS_OF = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def event(
    data: EventData, *, customer: str = CUSTOMER, time: datetime, id: str, subject: str | None
) -> Envelope:
    return make_event(
        data, customer_id=customer, source="/test/mspctl", time=time, subject=subject, id=id
    )


def contract(customer: str = CUSTOMER) -> Envelope:
    version = sample_contract_version()
    data = ContractSnapshot(contract_id=f"ctr-{customer}", versions=[version])
    return event(
        data, customer=customer, time=version.effective_from, id=f"ctr-{customer}-1", subject=None
    )


def created(
    ticket: str, priority: str, opened: datetime, *, customer: str = CUSTOMER, category: str
) -> Envelope:
    data = TicketCreated(
        ticket_id=ticket,
        title=f"{ticket}: {category} work",
        priority=priority,  # type: ignore[arg-type]
        category=category,
        source="portal",
        opened_at=opened,
    )
    return event(
        data, customer=customer, time=opened, id=f"{customer}-{ticket}-created", subject=ticket
    )


def answered(ticket: str, when: datetime) -> Envelope:
    data = TicketCommentAdded(
        ticket_id=ticket,
        comment_id=f"{ticket}-c1",
        author_kind="agent",
        author_id="tech-1",
        public=True,
        added_at=when,
    )
    return event(data, time=when, id=f"{CUSTOMER}-{ticket}-answered", subject=ticket)


def resolved(ticket: str, when: datetime) -> Envelope:
    data = TicketResolved(ticket_id=ticket, resolution_code="fixed", resolved_at=when)
    return event(data, time=when, id=f"{CUSTOMER}-{ticket}-resolved", subject=ticket)


def worked(
    ticket: str, start: datetime, minutes: int, category: str, change_order: str | None = None
) -> Envelope:
    data = TimeLogged(
        entry_id=f"TE-{ticket}",
        ticket_id=ticket,
        technician_id="tech-1",
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        work_category=category,
        change_order_id=change_order,
    )
    return event(data, time=data.ended_at, id=f"{CUSTOMER}-TE-{ticket}", subject=ticket)


def change_order() -> Envelope:
    data = ChangeOrderApproved(
        change_order_id="CO-1",
        ticket_ids=["T-3"],
        scope="install the new firewall",
        approved_by="cfo@cust-a.example",
        approved_at=at(1, 9),
    )
    return event(data, time=at(1, 9), id=f"{CUSTOMER}-CO-1", subject="CO-1")


def backup_failed(when: datetime) -> Envelope:
    data = AlertFiring(
        source_system="rmm",
        source_fingerprint="fp-backup-srv-1",
        device_id="srv-1",
        site_id="site-1",
        check="nightly backup",
        check_kind="backup_failure",
        severity="major",
        summary="nightly backup failed on srv-1",
        starts_at=when,
    )
    return event(data, time=when, id=f"{CUSTOMER}-alert-backup", subject="srv-1")


def month() -> list[Envelope]:
    """Every event of the scenario, in event-time order."""
    return [
        contract(),
        contract(OTHER),
        change_order(),
        created("T-1", "P2", at(2, 9), category="help_desk"),
        answered("T-1", at(2, 9, 10)),
        worked("T-1", at(2, 9, 10), 30, "help_desk"),
        resolved("T-1", at(2, 10)),
        created("T-2", "P2", at(3, 9), category="installation"),
        answered("T-2", at(3, 11)),
        worked("T-2", at(3, 11), 120, "installation"),
        resolved("T-2", at(3, 13, 30)),
        created("T-3", "P4", at(4, 10), category="installation"),
        worked("T-3", at(4, 10), 60, "installation", change_order="CO-1"),
        resolved("T-3", at(4, 11, 30)),
        backup_failed(at(10, 2)),
        created("B-1", "P3", at(5, 10), customer=OTHER, category="help_desk"),
        created("T-4", "P3", at(2, 9, month=4), category="help_desk"),
    ]
