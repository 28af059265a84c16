"""Which events reach whom, and what they say: pure functions, no I/O.

Rules:
* An SLA warning or breach goes to the people behind its step's `roles_to_inform`:
  each role is looked up in the customer's contact directory (contract), then in the
  MSP's (settings). The text names the ticket, the customer, the level, the roles and
  the deadline in the customer's local time.
* A P1/P2 incident that opens, or escalates to P1/P2, goes to the MSP's on-call role
  and to the contract's `incident_roles`; when it resolves, whoever was told is told
  (the consumer keeps the audience).
* Urgent notices (breaches and steps at or above 100%, anything about a P1/P2) go at
  once. Others (warnings on P3-P5 tickets, the monthly report) wait for the
  recipient's working hours: the contract's business calendar for the customer's
  people, the MSP's calendar for its staff; the on-call role is never quiet.
* Incident notices of one site (or one incident) and one kind share a `group_key`:
  the consumer folds those arriving within the group window into one message.
* A correction from sla-clock (an `SlaOutcomeCorrected` of a warning, breach or
  escalation step) goes to whoever the corrected notice went to, on the same channels,
  at once, and only once that notice was sent (the delivery follows it).
* Every contact is reached on each channel it has: email, and its signed webhook,
  Slack and Teams URLs when set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from msp_events.calendar import BusinessCalendar, hours_calendar
from msp_events.types import contracts
from msp_events.types.contracts import Contact, ContactDirectory, ContractVersion
from msp_events.types.incidents import IncidentOpened, IncidentUpdated
from msp_events.types.sla import (
    SlaBreached,
    SlaEscalated,
    SlaMonthlyReport,
    SlaOutcomeCorrected,
    SlaWarning,
)

Channel = Literal["email", "webhook", "slack", "teams"]
CHANNELS: tuple[Channel, ...] = ("email", "webhook", "slack", "teams")
NOTIFIED_PRIORITIES = frozenset({"P1", "P2"})


@dataclass(frozen=True)
class Recipient:
    """One person on one channel."""

    role: str
    name: str
    channel: Channel
    address: str
    calendar: BusinessCalendar | None = field(compare=False, default=None)
    """Their working hours; None: never quiet (on call)."""


@dataclass(frozen=True)
class Notice:
    """What to tell, before it is shaped for a channel (`render.py`)."""

    kind: str
    customer_id: str
    title: str
    lines: tuple[str, ...]
    facts: dict[str, Any]
    urgent: bool
    at: datetime
    group_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "customer_id": self.customer_id,
            "title": self.title,
            "lines": list(self.lines),
            "facts": self.facts,
            "urgent": self.urgent,
            "at": self.at.isoformat(),
        }


def endpoints(contact: Contact) -> list[tuple[Channel, str]]:
    found: list[tuple[Channel, str]] = [("email", contact.email)]
    for channel, url in (
        ("webhook", contact.webhook_url),
        ("slack", contact.slack_webhook_url),
        ("teams", contact.teams_webhook_url),
    ):
        if url:
            found.append((channel, url))  # type: ignore[arg-type]
    return found


@dataclass(frozen=True)
class Directory:
    """Everyone notify can reach for one customer: the contract's people first, then
    the MSP's, each with the calendar of their quiet hours."""

    customer: ContactDirectory
    customer_calendar: BusinessCalendar | None
    msp: ContactDirectory
    msp_calendar: BusinessCalendar
    on_call_role: str

    def recipients(self, roles: list[str] | tuple[str, ...]) -> list[Recipient]:
        """Each person once per channel, under the first role that names them."""
        seen: set[tuple[str, str]] = set()
        found: list[Recipient] = []
        for role in roles:
            people = self.customer.contacts_for(role)
            calendar: BusinessCalendar | None = self.customer_calendar
            if not people:
                people = self.msp.contacts_for(role)
                calendar = None if role == self.on_call_role else self.msp_calendar
            for person in people:
                for channel, address in endpoints(person):
                    if (channel, address) in seen:
                        continue
                    seen.add((channel, address))
                    found.append(Recipient(role, person.name, channel, address, calendar))
        return found


def directory_for(
    version: ContractVersion | None,
    *,
    msp: ContactDirectory,
    msp_timezone: str,
    msp_hours: contracts.BusinessCalendar,
    on_call_role: str,
) -> Directory:
    customer = version.contacts if version is not None else ContactDirectory()
    customer_calendar = (
        hours_calendar(version.timezone, version.calendar) if version is not None else None
    )
    return Directory(
        customer=customer,
        customer_calendar=customer_calendar,
        msp=msp,
        msp_calendar=hours_calendar(msp_timezone, msp_hours),
        on_call_role=on_call_role,
    )


def not_before(notice: Notice, recipient: Recipient) -> datetime:
    """When `recipient` may get `notice`: now if urgent or inside their working hours
    (or they have none: on call), else when their working hours next begin."""
    calendar = recipient.calendar
    if notice.urgent or calendar is None or calendar.is_open(notice.at):
        return notice.at
    if calendar.weekly_minutes is not None and not any(calendar.weekly_minutes.values()):
        return notice.at  # no working hours at all: quiet hours would be forever
    start, _end = next(calendar.intervals_from(notice.at))
    return start


def local_time(instant: datetime, timezone: str) -> str:
    """`2026-03-10 14:30 GMT (Europe/London)`: a deadline as the customer reads it."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({timezone})"


def sla_notice(
    event_data: SlaWarning | SlaBreached | SlaEscalated,
    *,
    customer_id: str,
    timezone: str,
    threshold_percent: int,
    at: datetime,
) -> Notice:
    """The notice of one escalation step of a ticket's SLA clock."""
    data = event_data
    breach = isinstance(data, SlaBreached)
    escalation = isinstance(data, SlaEscalated)
    kind = "sla_breach" if breach else "sla_escalation" if escalation else "sla_warning"
    what = (
        "breached"
        if breach
        else f"breached and at {threshold_percent}% of its target"
        if escalation
        else f"at {threshold_percent}% of its target"
    )
    deadline = local_time(data.due_at, timezone)
    metric = data.metric.replace("_", " ")
    roles = list(data.roles_to_inform)
    title = (
        f"[{data.priority}] SLA {metric} {what}: ticket {data.ticket_id} "
        f"({customer_id}), level {data.escalation_level}"
    )
    lines = (
        f"Ticket {data.ticket_id} of customer {customer_id} ({data.priority}): the {metric} "
        f"SLA is {what}.",
        f"Deadline: {deadline}.",
        f"Escalation level {data.escalation_level}; roles informed: {', '.join(roles) or 'none'}.",
    )
    facts: dict[str, Any] = {
        "ticket_id": data.ticket_id,
        "customer_id": customer_id,
        "priority": data.priority,
        "metric": data.metric,
        "threshold_percent": threshold_percent,
        "escalation_level": data.escalation_level,
        "roles_to_inform": roles,
        "due_at": data.due_at.isoformat(),
        "due_local": deadline,
        "clock_id": data.clock_id,
    }
    urgent = breach or escalation or threshold_percent >= 100
    urgent = urgent or data.priority in NOTIFIED_PRIORITIES
    return Notice(kind, customer_id, title, lines, facts, urgent, at)


def correction_notice(data: SlaOutcomeCorrected, *, customer_id: str, timezone: str) -> Notice:
    """The notice that an SLA notice already sent was wrong: withdrawn (it did not
    happen) or moved to another instant, with the clock's outcome as now known."""
    what = (
        data.statement
        if data.threshold_percent is None
        else (f"{data.statement} at {data.threshold_percent}%")
    )
    metric = data.metric.replace("_", " ")
    if data.now_at is None:
        change, verb = "did not happen: withdrawn", "withdrawn"
    else:
        was = local_time(data.was_at, timezone) if data.was_at else "not reached"
        change = f"happened at {local_time(data.now_at, timezone)} (was: {was})"
        verb = "corrected"
    outcome = (
        data.outcome
        if data.outcome_at is None
        else (f"{data.outcome} at {local_time(data.outcome_at, timezone)}")
    )
    lines = (
        f"Correction: the {metric} SLA {what} notice for ticket {data.ticket_id} of customer "
        f"{customer_id} ({data.priority}) {change}.",
        f"The SLA's outcome is now: {outcome}.",
    )
    facts: dict[str, Any] = {
        "ticket_id": data.ticket_id,
        "customer_id": customer_id,
        "priority": data.priority,
        "metric": data.metric,
        "clock_id": data.clock_id,
        "corrects_event_id": data.corrects_event_id,
        "statement": data.statement,
        "threshold_percent": data.threshold_percent,
        "was_at": data.was_at.isoformat() if data.was_at else None,
        "now_at": data.now_at.isoformat() if data.now_at else None,
        "outcome": data.outcome,
        "outcome_at": data.outcome_at.isoformat() if data.outcome_at else None,
    }
    title = (
        f"[{data.priority}] Correction: SLA {metric} {what} {verb}: "
        f"ticket {data.ticket_id} ({customer_id})"
    )
    return Notice("sla_correction", customer_id, title, lines, facts, True, data.corrected_at)


def site_key(customer_id: str, incident_id: str, site_id: str | None, kind: str) -> str:
    where = f"site:{site_id}" if site_id else f"incident:{incident_id}"
    return f"{customer_id}|{where}|{kind}"


def incident_opened_notice(data: IncidentOpened, *, customer_id: str) -> Notice:
    where = f"site {data.site_id}" if data.site_id else f"{data.scope} scope"
    lines: tuple[str, ...] = (
        f"{data.priority} incident {data.incident_id} opened for customer {customer_id} "
        f"({where}): {data.title}.",
        f"Why this priority: {data.priority_reason}",
    )
    if data.ticket_id:
        lines += (f"Proactive ticket: {data.ticket_id}.",)
    if data.runbook:
        lines += (f"Runbook: {data.runbook}",)
    facts: dict[str, Any] = {
        "incident_id": data.incident_id,
        "priority": data.priority,
        "site_id": data.site_id,
        "device_ids": list(data.device_ids),
        "ticket_id": data.ticket_id,
        "title": data.title,
    }
    return Notice(
        "incident_opened",
        customer_id,
        f"[{data.priority}] incident opened: {data.title} ({customer_id})",
        lines,
        facts,
        True,
        data.opened_at,
        site_key(customer_id, data.incident_id, data.site_id, "incident_opened"),
    )


def escalated(data: IncidentUpdated, previous: str) -> bool:
    """An update that makes the incident P1/P2 (or P2 -> P1) is an escalation."""
    return (
        data.priority is not None
        and data.priority in NOTIFIED_PRIORITIES
        and data.priority < previous
    )


def incident_escalated_notice(
    data: IncidentUpdated, *, customer_id: str, title: str, site_id: str | None, previous: str
) -> Notice:
    priority = data.priority or previous
    return Notice(
        "incident_escalated",
        customer_id,
        f"[{priority}] incident escalated from {previous}: {title} ({customer_id})",
        (
            f"Incident {data.incident_id} of customer {customer_id} is now {priority} "
            f"(was {previous}): {title}.",
            f"Why: {data.reason}",
        ),
        {
            "incident_id": data.incident_id,
            "priority": priority,
            "previous_priority": previous,
            "site_id": site_id,
            "title": title,
        },
        True,
        data.updated_at,
        site_key(customer_id, data.incident_id, site_id, "incident_escalated"),
    )


def incident_resolved_notice(
    *,
    customer_id: str,
    incident_id: str,
    title: str,
    site_id: str | None,
    priority: str,
    resolved_at: datetime,
    duration_seconds: int,
    reason: str,
) -> Notice:
    minutes = duration_seconds // 60
    return Notice(
        "incident_resolved",
        customer_id,
        f"[{priority}] incident resolved: {title} ({customer_id})",
        (
            f"Incident {incident_id} of customer {customer_id} is resolved after "
            f"{minutes} min: {title}.",
            f"How: {reason}",
        ),
        {
            "incident_id": incident_id,
            "priority": priority,
            "site_id": site_id,
            "title": title,
            "duration_seconds": duration_seconds,
        },
        True,
        resolved_at,
        site_key(customer_id, incident_id, site_id, "incident_resolved"),
    )


def report_notice(data: SlaMonthlyReport, *, customer_id: str, at: datetime) -> Notice:
    """The monthly SLA report: an HTML email with the CSV attached (`render.py`); the
    figures are the event's, which are the report API's. Not urgent: it waits for the
    recipient's working hours like any other notice that can."""
    met = [f"{line.metric} {line.priority}: {line.met_percent}% met" for line in data.summary]
    lines = (
        f"SLA report of customer {customer_id} for {data.month} ({data.timezone}): "
        f"{data.clocks} clocks, {data.breaches_total} breached.",
        *met,
        f"Availability {data.availability.measured_percent}% "
        f"(target {data.availability.target_percent}%).",
    )
    return Notice(
        "monthly_report",
        customer_id,
        f"SLA report {data.month}: {customer_id}",
        lines,
        {"report": data.model_dump(mode="json")},
        False,
        at,
    )
