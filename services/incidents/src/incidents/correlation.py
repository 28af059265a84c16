"""Correlation: alerts on the same device, or on devices of the same site, within the
correlation window (sliding from the incident's latest alert) join one incident. When
enough devices of the site are offline together (N devices, or a share of the site's
known devices), the incident widens in place to "site unreachable": one incident, one
ticket, its priority raised, the device alerts attached to it. Its title then counts the
devices offline, rewritten as more of them attach (incidents knows a site's devices only
from their events, so a site can widen at "2 of 2 known" and grow afterwards)."""

from __future__ import annotations

from datetime import datetime

from incidents.config import TriageConfig
from incidents.outputs import Effects, alerts_attached
from incidents.priority import SEVERITY_RANK, assess, higher, impact_of, needs_ticket, urgency_of
from incidents.state import OFFLINE_KINDS, Alert, CustomerState, Incident
from msp_events import derive_event_id
from msp_events.types.contracts import ContractVersion


def find_incident(
    state: CustomerState, alert: Alert, at: datetime, cfg: TriageConfig
) -> Incident | None:
    """The first open incident, in opening order, on the alert's device or site whose
    latest alert is within the window (looked up by device and site, not walked)."""
    for inc in state.incidents_near(alert.device_id, alert.site_id):
        if at - inc.last_attach_at <= cfg.window:
            return inc
    return None


def site_unreachable(offline: int, known: int, cfg: TriageConfig) -> bool:
    if offline >= cfg.site_min_devices:
        return True
    return offline >= 2 and known > 0 and offline / known >= cfg.site_offline_share


def offline_devices(state: CustomerState, inc: Incident) -> set[str]:
    """The recount: the reference `state.offline_count` (kept incrementally, as this
    ran on every attachment over all the incident's alerts) is tested against."""
    alerts, incident_id = state.alerts, inc.incident_id
    return {
        a.device_id
        for fp in inc.alerts
        if (a := alerts.get(fp)) is not None
        and a.incident_id == incident_id
        and a.status == "firing"
        and a.check_kind in OFFLINE_KINDS
        and a.device_id
    }


def initial_scope(alert: Alert) -> str:
    if alert.check_kind == "internet_down" and alert.site_id is not None:
        return "site"
    if alert.device_id is not None:
        return "device"
    return "site" if alert.site_id is not None else "customer"


def open_incident(
    state: CustomerState, alert: Alert, version: ContractVersion, at: datetime, fx: Effects
) -> Incident:
    scope = initial_scope(alert)
    a = assess(
        scope=scope,
        severity=alert.severity,
        check_kind=alert.check_kind,
        business_critical=alert.business_critical,
        tier=version.tier,
    )
    incident_id = derive_event_id("incident", state.customer_id, alert.alert_id)
    target = alert.device_id or alert.site_id or state.customer_id
    inc = Incident(
        incident_id=incident_id,
        ticket_id=derive_event_id("ticket", incident_id) if needs_ticket(a.priority) else None,
        title=f"{alert.check_kind.replace('_', ' ')} on {target}: {alert.summary}"[:500],
        priority=a.priority,
        scope=scope,
        site_id=alert.site_id,
        device_ids=[alert.device_id] if alert.device_id else [],
        check_kind=alert.check_kind,
        severity=alert.severity,
        business_critical=alert.business_critical,
        tier=version.tier,
        alerts=[alert.fingerprint],
        opened_at=at,
        last_attach_at=at,
    )
    state.incidents[incident_id] = inc
    state.add_incident(inc)
    alert.incident_id = incident_id
    state.note_alert(alert)
    fx.opened(inc, a, version.runbooks.get(alert.check_kind))  # type: ignore[call-overload]
    return inc


def attach(
    state: CustomerState, inc: Incident, alert: Alert, at: datetime, cfg: TriageConfig, fx: Effects
) -> None:
    if alert.fingerprint not in inc.alerts:
        inc.alerts.append(alert.fingerprint)
    devices = []
    if alert.device_id and alert.device_id not in inc.device_ids:
        inc.device_ids.append(alert.device_id)
        state.add_device(inc, alert.device_id)
        devices.append(alert.device_id)
    inc.last_attach_at = max(inc.last_attach_at, at)
    inc.quiet_since = None
    alert.incident_id = inc.incident_id
    state.note_alert(alert)
    reasons = [f"correlated: {alert.check_kind} on {alert.device_id or alert.site_id}"]
    reassess(state, inc, alert, at, cfg, fx, reasons, attached=[alert.fingerprint], devices=devices)


def site_title(site_id: str, offline: int) -> str:
    return f"Site {site_id} unreachable ({offline} devices offline)"


def reassess(
    state: CustomerState,
    inc: Incident,
    alert: Alert,
    at: datetime,
    cfg: TriageConfig,
    fx: Effects,
    reasons: list[str],
    *,
    attached: list[str],
    devices: list[str] | None = None,
    transition: str | None = None,
) -> None:
    """Fold the alert's severity and the site rule into the incident; emit one update
    (and a ticket priority change when the priority rose). Priority never drops while
    the incident is open: the ticket's SLA keeps the urgency it was given. The update
    carries what the query model shows: new devices, new scope, title, impact, urgency."""
    impact = impact_of(inc.scope, inc.severity)
    urgency = urgency_of(inc.check_kind, inc.business_critical)
    if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[inc.severity]:
        inc.severity = alert.severity
    inc.business_critical = inc.business_critical or alert.business_critical
    new_scope = new_title = None
    # a widened incident is recounted when an offline alert attaches (not on resolves:
    # the title counts the devices offline as of the latest attachment)
    recount = inc.widened and bool(attached) and alert.check_kind in OFFLINE_KINDS
    if inc.site_id is not None and (inc.scope == "device" or recount):
        offline = state.offline_count(inc)
        known = state.known_devices(inc.site_id)
        if inc.scope == "device" and site_unreachable(offline, known, cfg):
            new_scope, inc.scope, inc.widened = "site", "site", True
            reasons.append(f"site unreachable: {offline} of {known} known devices offline")
        if inc.widened and site_title(inc.site_id, offline) != inc.title:
            new_title = inc.title = site_title(inc.site_id, offline)
    a = assess(
        scope=inc.scope,
        severity=inc.severity,
        check_kind=inc.check_kind,
        business_critical=inc.business_critical,
        tier=inc.tier,
    )
    previous = inc.priority
    raised = higher(a.priority, previous)
    if raised:
        inc.priority = a.priority
        reasons.append(f"priority {previous} -> {a.priority}: {a.reason}")
    if not (attached or raised):
        return
    update = alerts_attached(
        incident_id=inc.incident_id,
        priority=a.priority if raised else None,
        previous_priority=previous if raised else None,
        alerts_attached=attached,
        reason="; ".join(reasons)[:1000],
        updated_at=at,
        scope=new_scope,
        title=new_title,
        devices_attached=devices or [],
        impact=a.impact if a.impact != impact else None,
        urgency=a.urgency if a.urgency != urgency else None,
    )
    fx.updated(inc, at, transition or f"attach:{alert.alert_id}", update)
    if raised:
        fx.priority_raised(inc, previous, at, reasons[-1])
