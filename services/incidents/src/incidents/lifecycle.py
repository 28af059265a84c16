"""Alert lifecycle: firing, resolve, re-fire within the hold-down, tombstones for
orphan resolves, suppression in maintenance windows, and flapping bookkeeping. Each
function changes the customer's state and records what it did in `fx`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from incidents import correlation, flapping, maintenance
from incidents.config import TriageConfig
from incidents.coverage import OUTSIDE_COVERAGE, coverage_starts_at
from incidents.dedup import classify_firing, classify_resolve
from incidents.outputs import Effects, Facts
from incidents.state import Alert, CustomerState, Tombstone
from msp_events import derive_event_id
from msp_events.types.contracts import ContractVersion
from msp_events.types.incidents import IncidentUpdated
from msp_events.types.monitoring import AlertFiring


def on_firing(
    state: CustomerState,
    version: ContractVersion,
    data: AlertFiring,
    *,
    event_id: str,
    at: datetime,
    cfg: TriageConfig,
    fx: Effects,
) -> None:
    fp = data.source_fingerprint
    alert = state.alerts.get(fp)
    tomb = state.tombstones.get(fp)
    decision = classify_firing(
        alert, tomb, event_id=event_id, at=at, starts_at=data.starts_at, holddown=cfg.holddown
    )
    facts = Facts(
        fingerprint=fp,
        check_kind=data.check_kind,
        severity=data.severity,
        device_id=data.device_id,
        site_id=data.site_id,
    )
    if decision == "duplicate":
        assert alert is not None
        fx.record(
            outcome="duplicate",
            reason="already applied",
            incident_id=alert.incident_id,
            event_id=event_id,
            at=at,
            **facts,
        )
        return
    if decision == "late_trigger":
        assert tomb is not None
        reason = f"late trigger: its resolve (ended {tomb.ends_at.isoformat()}) came first"
        fx.record(outcome="late_trigger", reason=reason, event_id=event_id, at=at, **facts)
        return
    if decision == "refresh":
        assert alert is not None
        _touch(alert, event_id, at)
        alert.last_seen = at
        old = alert.severity
        alert.severity = data.severity
        inc = state.incidents.get(alert.incident_id or "")
        if inc is not None and old != data.severity:
            reasons = [f"alert {fp} severity {old} -> {data.severity}"]
            correlation.reassess(
                state,
                inc,
                alert,
                at,
                cfg,
                fx,
                reasons,
                attached=[],
                transition=f"severity:{alert.alert_id}:{data.severity}",
            )
        fx.record(
            outcome="repeat",
            reason=f"alert already firing (severity {old} -> {data.severity})"
            if old != data.severity
            else "alert already firing",
            incident_id=alert.incident_id,
            event_id=event_id,
            at=at,
            **facts,
        )
        return
    if decision == "refire":
        assert alert is not None
        _touch(alert, event_id, at)
        alert.status, alert.resolved_at, alert.last_seen = "firing", None, at
        state.note_alert(alert)
        inc = state.incidents.get(alert.incident_id or "")
        if inc is not None:
            inc.quiet_since = None
        changed(state, alert, at, cfg, fx)
        fx.record(
            outcome="refired",
            reason="fired again within the hold-down: same alert",
            incident_id=alert.incident_id,
            event_id=event_id,
            at=at,
            **facts,
        )
        return
    alert = Alert(
        alert_id=derive_event_id("alert", state.customer_id, fp, event_id),
        fingerprint=fp,
        device_id=data.device_id,
        site_id=data.site_id,
        check=data.check,
        check_kind=data.check_kind,
        severity=data.severity,
        summary=data.summary,
        business_critical=data.business_critical,
        started_at=at,
        last_seen=at,
        last_event_at=at,
        last_event_id=event_id,
        changes=[at],
    )
    state.alerts[fp] = alert
    state.note_alert(alert)  # it replaces a resolved one
    state.tombstones.pop(fp, None)
    state.wake(at + cfg.alert_timeout)
    evaluate(state, version, alert, event_id=event_id, at=at, cfg=cfg, fx=fx)


def evaluate(
    state: CustomerState,
    version: ContractVersion,
    alert: Alert,
    *,
    event_id: str,
    at: datetime,
    cfg: TriageConfig,
    fx: Effects,
) -> None:
    """Suppress the alert in a maintenance window, hold it outside monitoring coverage
    (coverage.py), else correlate or open an incident."""
    facts = Facts(
        fingerprint=alert.fingerprint,
        check_kind=alert.check_kind,
        severity=alert.severity,
        device_id=alert.device_id,
        site_id=alert.site_id,
    )
    window = maintenance.active_window(
        windows=state.windows,
        contract=version,
        device_id=alert.device_id,
        site_id=alert.site_id,
        at=at,
    )
    if window is not None:
        alert.suppressed_by, alert.suppressed_until = window
        state.wake(window[1])
        reason = f"in maintenance window {window[0]} until {window[1].isoformat()}: no ticket"
        fx.record(outcome="suppressed", reason=reason, event_id=event_id, at=at, **facts)
        return
    opens = coverage_starts_at(version, at)
    if opens is not None:
        alert.suppressed_by, alert.suppressed_until = OUTSIDE_COVERAGE, opens
        state.wake(opens)
        local = opens.astimezone(ZoneInfo(version.timezone)).strftime("%a %H:%M")
        reason = (
            f"outside coverage (business hours) until {opens.isoformat()} "
            f"({local} {version.timezone}): no ticket"
        )
        fx.record(outcome="outside_coverage", reason=reason, event_id=event_id, at=at, **facts)
        return
    alert.suppressed_by = alert.suppressed_until = None
    inc = correlation.find_incident(state, alert, at, cfg)
    if inc is not None:
        correlation.attach(state, inc, alert, at, cfg, fx)
        fx.record(
            outcome="correlated",
            reason=f"joined incident {inc.incident_id}",
            incident_id=inc.incident_id,
            event_id=event_id,
            at=at,
            **facts,
        )
        return
    inc = correlation.open_incident(state, alert, version, at, fx)
    fx.record(
        outcome="opened",
        reason=f"opened incident at {inc.priority}",
        incident_id=inc.incident_id,
        event_id=event_id,
        at=at,
        **facts,
    )


def on_resolved(
    state: CustomerState,
    fp: str,
    *,
    event_id: str,
    at: datetime,
    ends_at: datetime,
    reason: str,
    cfg: TriageConfig,
    fx: Effects,
) -> None:
    alert = state.alerts.get(fp)
    decision = classify_resolve(alert, event_id=event_id, at=at)
    if decision == "orphan":
        state.tombstones[fp] = Tombstone(ends_at=ends_at, expires_at=at + cfg.tombstone_ttl)
        state.wake(at + cfg.tombstone_ttl)
        fx.record(
            event_id=event_id,
            at=at,
            fingerprint=fp,
            outcome="tombstone",
            reason="resolve for an unknown alert: kept in case its trigger arrives late",
        )
        return
    assert alert is not None
    if decision == "duplicate":
        fx.record(
            event_id=event_id,
            at=at,
            fingerprint=fp,
            outcome="duplicate",
            reason="already resolved",
            incident_id=alert.incident_id,
        )
        return
    _touch(alert, event_id, at)
    alert.status, alert.resolved_at = "resolved", at
    state.note_alert(alert)
    changed(state, alert, at, cfg, fx)
    inc = state.incidents.get(alert.incident_id or "")
    if inc is not None and all(a.status == "resolved" for a in state.alerts_of(inc)):
        inc.quiet_since = at
        state.wake(at + cfg.holddown)
    fx.record(
        event_id=event_id,
        at=at,
        fingerprint=fp,
        outcome="resolved",
        reason=reason,
        incident_id=alert.incident_id,
        check_kind=alert.check_kind,
        device_id=alert.device_id,
        site_id=alert.site_id,
    )


def changed(
    state: CustomerState, alert: Alert, at: datetime, cfg: TriageConfig, fx: Effects
) -> None:
    """A state change (fire <-> resolve): flapping detection."""
    alert.changes = flapping.record_change(alert.changes, at, cfg.flap_window)
    if alert.flapping or not flapping.is_flapping(alert.changes, cfg.flap_changes):
        return
    alert.flapping = True
    state.wake(at + cfg.flap_window)
    alert.flap_episodes += 1
    fx.flapping += 1
    inc = state.incidents.get(alert.incident_id or "")
    if inc is None:
        return
    update = IncidentUpdated(
        incident_id=inc.incident_id,
        flapping=True,
        reason=f"alert {alert.fingerprint} flapping: {len(alert.changes)} state changes "
        f"within {cfg.flap_window_s} s; incident stays open, no ticket churn",
        updated_at=at,
    )
    fx.updated(inc, at, f"flapping:{alert.alert_id}:{alert.flap_episodes}", update)


def _touch(alert: Alert, event_id: str, at: datetime) -> None:
    alert.last_event_at, alert.last_event_id = at, event_id
