"""Two customers' March 2026, built with the msp_events types: what the access tests
publish so every route has an object of each tenant to show or to hide.

Each customer (`cust-acme`, `cust-beta`) gets the samples' managed contract and:
- T-1 (P2, help desk): answered, 30 min covered work, resolved — the SAME ticket id for
  both customers, so a scoped lookup must pick the caller's own;
- T-2 (installation) with 2 h and no change order (scope creep);
- T-3 with 45 min of `garden` work: held for review (what a person reclassifies);
- a failed nightly backup on 10 March: an incident;
- a ticket on 2 April, which moves event time past the month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import AlertFiring
from msp_events.types.tickets import (
    TicketCommentAdded,
    TicketCreated,
    TicketResolved,
    TimeLogged,
)

ACME, BETA = "cust-acme", "cust-beta"
PERIOD = "2026-03"
INVOICE_AS_OF = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _event(
    data: EventData, customer: str, when: datetime, id: str, subject: str | None
) -> Envelope:
    return make_event(
        data, customer_id=customer, source="/test/access", time=when, subject=subject, id=id
    )


def customer_month(c: str) -> list[Envelope]:
    version = sample_contract_version()
    out = [
        _event(
            ContractSnapshot(contract_id=f"ctr-{c}", versions=[version]),
            c,
            version.effective_from,
            f"{c}-ctr",
            None,
        )
    ]

    def ticket(t: str, priority: str, opened: datetime, category: str) -> None:
        data = TicketCreated(
            ticket_id=t,
            title=f"{t}: {category}",
            priority=priority,  # type: ignore[arg-type]
            category=category,
            source="portal",
            opened_at=opened,
        )
        out.append(_event(data, c, opened, f"{c}-{t}-created", t))

    def work(t: str, start: datetime, minutes: int, category: str) -> None:
        data = TimeLogged(
            entry_id=f"{c}-TE-{t}",
            ticket_id=t,
            technician_id="tech-1",
            started_at=start,
            ended_at=start + timedelta(minutes=minutes),
            work_category=category,
        )
        out.append(_event(data, c, data.ended_at, f"{c}-TE-{t}", t))

    def resolve(t: str, when: datetime) -> None:
        data = TicketResolved(ticket_id=t, resolution_code="fixed", resolved_at=when)
        out.append(_event(data, c, when, f"{c}-{t}-resolved", t))

    ticket("T-1", "P2", at(2, 9), "help_desk")
    answer = TicketCommentAdded(
        ticket_id="T-1",
        comment_id="T-1-c1",
        author_kind="agent",
        author_id="tech-1",
        public=True,
        added_at=at(2, 9, 10),
    )
    out.append(_event(answer, c, at(2, 9, 10), f"{c}-T-1-answered", "T-1"))
    work("T-1", at(2, 9, 10), 30, "help_desk")
    resolve("T-1", at(2, 10))
    ticket("T-2", "P3", at(3, 9), "installation")
    work("T-2", at(3, 11), 120, "installation")
    resolve("T-2", at(3, 13, 30))
    ticket("T-3", "P4", at(4, 10), "garden")
    work("T-3", at(4, 10), 45, "garden")
    alert = AlertFiring(
        source_system="rmm",
        source_fingerprint=f"fp-backup-{c}",
        device_id=f"srv-{c}",
        site_id="site-1",
        check="nightly backup",
        check_kind="backup_failure",
        severity="major",
        summary=f"nightly backup failed on srv-{c}",
        starts_at=at(10, 2),
    )
    out.append(_event(alert, c, at(10, 2), f"{c}-alert-backup", f"srv-{c}"))
    ticket("T-9", "P3", at(2, 9, month=4), "help_desk")
    return out


def month() -> list[Envelope]:
    return sorted(customer_month(ACME) + customer_month(BETA), key=lambda e: e.time)
