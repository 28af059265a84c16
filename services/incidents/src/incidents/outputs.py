"""What triage produces: incident and ticket events with deterministic ids, and the
triage log rows that record what happened to each monitoring event.

Ids are uuid5 of the incident id and what the transition is (opened, alert attached,
priority raised to Pn, flapping episode k, resolved), never of batch boundaries or
wall time: a replay after a crash re-derives the same ids and the outbox drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, Unpack

from incidents.priority import Assessment
from incidents.state import Incident
from incidents.trusted import text_within, trusted, utc_in_window
from msp_events import Envelope, derive_event_id, make_event
from msp_events.base import Priority
from msp_events.tracing import continue_trace
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_events.types.tickets import TicketCreated, TicketPriorityChanged, TicketResolved

SOURCE = "/incidents"
TICKET_CATEGORY = "monitoring"


class Facts(TypedDict, total=False):
    """What the triage log records about the alert an outcome concerns."""

    fingerprint: str | None
    check_kind: str | None
    severity: str | None
    device_id: str | None
    site_id: str | None


@dataclass(frozen=True)
class LogRow:
    """One line of the triage log: what happened to one monitoring event (or timer)."""

    event_id: str
    customer_id: str
    fingerprint: str | None
    outcome: str
    reason: str
    incident_id: str | None
    at: datetime
    check_kind: str | None = None
    severity: str | None = None
    device_id: str | None = None
    site_id: str | None = None


@dataclass
class Effects:
    customer_id: str
    events: list[Envelope] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    flapping: int = 0
    cause: Envelope | None = None  # the consumed event these follow from (None: a timer)

    def caused_by(self, event: Envelope) -> Effects:
        """These effects follow from `event`: every output continues its trace (W3C
        trace context, `msp_events.tracing`), and the event's log line can say what
        triage did with it (`outcome`)."""
        self.cause = event
        self.events[:] = [continue_trace(e, event) for e in self.events]
        return self

    def outcome(self) -> str:
        """What triage did with the cause: its triage log outcome, else "applied"."""
        cause_id = self.cause.id if self.cause is not None else None
        return next((r.outcome for r in self.log if r.event_id == cause_id), "applied")

    def extend(self, other: Effects) -> None:
        self.events.extend(other.events)
        self.log.extend(other.log)
        self.flapping += other.flapping

    def _emit(self, data: object, *, at: datetime, subject: str, id: str) -> None:
        # trusted: the customer id is a validated input's, the source a constant, the
        # subject and id derived ids, the payload validated or built under its guard
        # (`make_event` still checks the time)
        self.events.append(
            make_event(
                data,  # type: ignore[arg-type]
                customer_id=self.customer_id,
                source=SOURCE,
                time=at,
                subject=subject,
                id=id,
                trusted=True,
            )
        )

    def opened(self, inc: Incident, a: Assessment, runbook: str | None) -> None:
        data = incident_opened(inc, a, runbook)
        self._emit(
            data,
            at=inc.opened_at,
            subject=inc.incident_id,
            id=derive_event_id(inc.incident_id, "opened"),
        )
        if inc.ticket_id is not None:
            self._emit(
                proactive_ticket(inc, inc.ticket_id, a, runbook),
                at=inc.opened_at,
                subject=inc.ticket_id,
                id=derive_event_id(inc.ticket_id, "created"),
            )

    def updated(self, inc: Incident, at: datetime, transition: str, data: IncidentUpdated) -> None:
        self._emit(
            data,
            at=at,
            subject=inc.incident_id,
            id=derive_event_id(inc.incident_id, "updated", transition),
        )

    def priority_raised(self, inc: Incident, previous: Priority, at: datetime, reason: str) -> None:
        if inc.ticket_id is None:
            return
        data = TicketPriorityChanged(
            ticket_id=inc.ticket_id,
            priority=inc.priority,
            previous_priority=previous,
            reason=reason[:1000],
            changed_at=at,
        )
        self._emit(
            data,
            at=at,
            subject=inc.ticket_id,
            id=derive_event_id(inc.ticket_id, "priority", inc.priority),
        )

    def resolved(self, inc: Incident, at: datetime, reason: str) -> None:
        data = IncidentResolved(
            incident_id=inc.incident_id,
            resolved_at=at,
            duration_seconds=max(0, int((at - inc.opened_at).total_seconds())),
            reason=reason,
        )
        self._emit(
            data, at=at, subject=inc.incident_id, id=derive_event_id(inc.incident_id, "resolved")
        )
        if inc.ticket_id is not None:
            ticket = TicketResolved(
                ticket_id=inc.ticket_id,
                resolution_code="auto_recovered",
                note=reason,
                resolved_at=at,
            )
            self._emit(
                ticket,
                at=at,
                subject=inc.ticket_id,
                id=derive_event_id(inc.ticket_id, "resolved"),
            )

    def record(
        self,
        *,
        event_id: str,
        outcome: str,
        reason: str,
        at: datetime,
        incident_id: str | None = None,
        **facts: Unpack[Facts],
    ) -> None:
        self.log.append(
            LogRow(
                event_id=event_id,
                customer_id=self.customer_id,
                fingerprint=facts.get("fingerprint"),
                outcome=outcome,
                reason=reason[:1000],
                incident_id=incident_id,
                at=at,
                check_kind=facts.get("check_kind"),
                severity=facts.get("severity"),
                device_id=facts.get("device_id"),
                site_id=facts.get("site_id"),
            )
        )


# The payloads triage emits for every new or correlated alert, built without validating
# them again when the guard holds (`trusted.py`); otherwise validated as usual.


def incident_opened(inc: Incident, a: Assessment, runbook: str | None) -> IncidentOpened:
    values: dict[str, Any] = {
        "incident_id": inc.incident_id,
        "title": inc.title,
        "priority": a.priority,
        "impact": a.impact,
        "urgency": a.urgency,
        "scope": inc.scope,
        "site_id": inc.site_id,
        "device_ids": list(inc.device_ids),  # a copy: the incident's list grows
        "alert_fingerprints": list(inc.alerts),
        "check_kind": inc.check_kind,
        "priority_reason": a.reason,
        "tier": inc.tier,
        "opened_at": inc.opened_at,
        "ticket_id": inc.ticket_id,
        "runbook": runbook,
    }
    if (
        utc_in_window(inc.opened_at)
        and text_within(inc.title, 500)
        and text_within(a.reason, 1000)
        and text_within(runbook, 2048)
        and inc.alerts
        and (inc.scope != "device" or inc.device_ids)
        and (inc.scope != "site" or inc.site_id is not None)
    ):
        return trusted(IncidentOpened, {**values, "parent_incident_id": None}, values.keys())
    return IncidentOpened(**values)


def proactive_ticket(
    inc: Incident, ticket_id: str, a: Assessment, runbook: str | None
) -> TicketCreated:
    values: dict[str, Any] = {
        "ticket_id": ticket_id,
        "title": inc.title,
        "description": a.reason + (f"\nRunbook: {runbook}" if runbook else ""),
        "priority": a.priority,
        "category": TICKET_CATEGORY,
        "source": "proactive",
        "proactive": True,
        "incident_id": inc.incident_id,
        "device_id": inc.device_ids[0] if len(inc.device_ids) == 1 else None,
        "site_id": inc.site_id,
        "reported_by": "incidents",
        "opened_at": inc.opened_at,
    }
    if (
        utc_in_window(inc.opened_at)
        and text_within(inc.title, 500)
        and text_within(values["description"], 20_000)
    ):
        return trusted(TicketCreated, values, values.keys())
    return TicketCreated(**values)


def alerts_attached(
    *,
    incident_id: str,
    priority: Priority | None,
    previous_priority: Priority | None,
    alerts_attached: list[str],
    reason: str,
    updated_at: datetime,
    scope: str | None,
    title: str | None,
    devices_attached: list[str],
    impact: str | None,
    urgency: str | None,
) -> IncidentUpdated:
    """The update `correlation.reassess` emits: alerts attached and/or priority raised,
    maybe widened (scope, title, impact, urgency)."""
    values: dict[str, Any] = {
        "incident_id": incident_id,
        "priority": priority,
        "previous_priority": previous_priority,
        "alerts_attached": alerts_attached,
        "reason": reason,
        "updated_at": updated_at,
        "scope": scope,
        "title": title,
        "devices_attached": devices_attached,
        "impact": impact,
        "urgency": urgency,
    }
    if (
        utc_in_window(updated_at)
        and text_within(reason, 1000)
        and text_within(title, 500)
        and (priority is not None or alerts_attached)
        and (previous_priority is None or priority is not None)
    ):
        given = values.keys()
        return trusted(
            IncidentUpdated, {**values, "flapping": None, "children_attached": []}, given
        )
    return IncidentUpdated(**values)
