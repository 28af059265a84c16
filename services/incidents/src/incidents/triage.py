"""Triage of one customer's monitoring events: the entry points the triage consumer and
the wall-clock scheduler call. Pure: state in, state changed and effects out; time is the
event's time (or the timer's), never read from a clock here.

Time model: each customer's clock is the latest event time seen for it. Before an event
is applied, everything due up to its time happens first (`advance`): maintenance-window
ends (alerts still firing are re-evaluated at once), expiry of silent alerts and
tombstones, heartbeat silence, the end of flapping, and incident resolution after the
hold-down. With no events, the service's wall-clock timer calls `advance` with the
current time, so nothing waits for traffic that may never come.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from incidents import flapping, lifecycle
from incidents.config import TriageConfig
from incidents.coverage import not_monitored_reason
from incidents.outputs import Effects
from incidents.state import Alert, CustomerState, DeviceBeat, Incident, Window
from msp_events import Envelope, derive_event_id
from msp_events.serde import parse_event, to_json_obj
from msp_events.types.contracts import ContractSnapshot, ContractTerminated, ContractVersion
from msp_events.types.incidents import IncidentUpdated
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    Heartbeat,
    MaintenanceCancelled,
    MaintenanceScheduled,
)

Contract = ContractSnapshot | ContractTerminated


def apply_event(
    state: CustomerState, contract: Contract | None, event: Envelope, cfg: TriageConfig
) -> Effects:
    fx = advance(state, contract, event.time, cfg)
    data, at = event.data, event.time
    if isinstance(data, AlertFiring | AlertResolved):
        state.see_device(data.site_id, data.device_id)
        if contract is None:
            state.pending.append(to_json_obj(event))
            state.wake(at + cfg.pending_ttl)
            fx.record(
                event_id=event.id,
                at=at,
                fingerprint=data.source_fingerprint,
                outcome="pending",
                reason="waiting for the customer's contract",
            )
            return fx
        version = contract.version_at(at)
        why_not = not_monitored_reason(version, data.check_kind, data.device_id)
        if isinstance(contract, ContractTerminated) and at >= contract.effective_at:
            why_not = f"not monitored: the contract ended {contract.effective_at.isoformat()}"
        if why_not is not None or version is None:
            fx.record(
                event_id=event.id,
                at=at,
                fingerprint=data.source_fingerprint,
                outcome="not_monitored",
                reason=why_not or "no contract",
                check_kind=data.check_kind,
                device_id=data.device_id,
                site_id=data.site_id,
            )
            return fx
        if isinstance(data, AlertFiring):
            lifecycle.on_firing(state, version, data, event_id=event.id, at=at, cfg=cfg, fx=fx)
        else:
            lifecycle.on_resolved(
                state,
                data.source_fingerprint,
                event_id=event.id,
                at=at,
                ends_at=data.ends_at,
                reason="source reports the alert resolved",
                cfg=cfg,
                fx=fx,
            )
    elif isinstance(data, Heartbeat):
        _heartbeat(state, data, event_id=event.id, cfg=cfg, fx=fx)
    elif isinstance(data, MaintenanceScheduled):
        state.windows[data.window_id] = Window(
            starts_at=data.starts_at, ends_at=data.ends_at, scope=data.scope.model_dump(mode="json")
        )
        for alert in state.alerts.values():  # a re-sent window may move its end
            if alert.suppressed_by == data.window_id:
                alert.suppressed_until = data.ends_at
                state.wake(data.ends_at)
        fx.record(
            event_id=event.id,
            at=at,
            fingerprint=None,
            outcome="maintenance",
            reason=f"window {data.window_id} scheduled "
            f"{data.starts_at.isoformat()} - {data.ends_at.isoformat()}",
        )
    elif isinstance(data, MaintenanceCancelled):
        state.windows.pop(data.window_id, None)
        for alert in state.alerts.values():
            if alert.suppressed_by == data.window_id and alert.suppressed_until is not None:
                alert.suppressed_until = min(alert.suppressed_until, data.cancelled_at)
                state.wake(alert.suppressed_until)
        fx.record(
            event_id=event.id,
            at=at,
            fingerprint=None,
            outcome="maintenance",
            reason=f"window {data.window_id} cancelled",
        )
        fx.extend(advance(state, contract, at, cfg))
    return fx


def apply_contract(
    state: CustomerState,
    contract: Contract,
    cfg: TriageConfig,
    *,
    failed: list[tuple[Envelope, str]] | None = None,
) -> Effects:
    """The customer's contract arrived or changed: apply the events that waited for it.
    With `failed`, a waiting event whose triage raises is the failure's cause, not the
    contract: the state is put back as it was before that event, and (event, reason) is
    appended; the contract and the other waiting events apply."""
    fx = Effects(state.customer_id)
    state.wake_at = None  # coverage and windows may have changed: scan at the next event
    waiting, state.pending = state.pending, []
    for obj in waiting:
        if failed is None:
            fx.extend(apply_event(state, contract, parse_event(obj), cfg))
            continue
        event = parse_event(obj)
        before = state.model_copy(deep=True)
        try:
            fx.extend(apply_event(state, contract, event, cfg))
        except Exception as exc:  # this waiting event's failure, not the contract's
            for name in CustomerState.model_fields:
                setattr(state, name, getattr(before, name))
            state.forget_indexes()
            failed.append((event, f"{type(exc).__name__}: {exc}"))
    return fx


def advance(
    state: CustomerState, contract: Contract | None, now: datetime, cfg: TriageConfig
) -> Effects:
    """Let everything due up to `now` happen, in this order."""
    fx = Effects(state.customer_id)
    state.advance_clock(now)
    clock = state.clock
    assert clock is not None
    if state.wake_at is not None and clock < state.wake_at:
        return fx  # nothing is due yet
    for fp, tomb in list(state.tombstones.items()):
        if tomb.expires_at <= clock:
            del state.tombstones[fp]
    if contract is None:
        _expire_pending(state, clock, cfg, fx)
    version = contract.version_at(clock) if contract is not None else None
    # Every loop below goes in time order, then by key: never in the order the state
    # happens to hold (the store loads a batch's rows in no particular order).
    for alert in sorted(state.alerts.values(), key=lambda a: (a.started_at, a.fingerprint)):
        if (
            version is not None
            and alert.status == "firing"
            and alert.suppressed_until is not None
            and alert.suppressed_until <= clock
            and alert.suppressed_until < alert.last_seen + cfg.alert_timeout
        ):
            # the window is over (or coverage started) and the alert still fires: triage
            # it now, not at its next repeat; one that expired before then (below) opens nothing
            at = alert.suppressed_until
            lifecycle.evaluate(
                state,
                version,
                alert,
                event_id=derive_event_id("reevaluated", alert.alert_id, at.isoformat()),
                at=at,
                cfg=cfg,
                fx=fx,
            )
    for alert in sorted(state.alerts.values(), key=lambda a: (a.last_seen, a.fingerprint)):
        due = alert.last_seen + cfg.alert_timeout
        if alert.status == "firing" and due <= clock:
            lifecycle.on_resolved(
                state,
                alert.fingerprint,
                event_id=derive_event_id("expired", alert.alert_id),
                at=due,
                ends_at=due,
                reason=f"expired: no repeat or resolve for {cfg.alert_timeout_s} s",
                cfg=cfg,
                fx=fx,
            )
    if version is not None:
        _silent_devices(state, version, clock, cfg, fx)
    _flapping_over(state, clock, cfg, fx)
    _resolve_quiet_incidents(state, clock, cfg, fx)
    state.prune(cfg.holddown)
    state.wake_at = _next_due(state, contract is None, cfg)
    return fx


def _next_due(state: CustomerState, pending: bool, cfg: TriageConfig) -> datetime:
    """The earliest instant at which `advance` could have something to do."""
    dues = [t.expires_at for t in state.tombstones.values()]
    dues += [
        due
        for a in state.alerts.values()
        if (due := alert_due(a, cfg, incident_open=a.incident_id in state.incidents))
    ]
    dues += [due for b in state.beats.values() if (due := beat_due(b, cfg))]
    dues += [due for i in state.incidents.values() if (due := incident_due(i, cfg))]
    if pending:
        dues.extend(pending_due(p, cfg) for p in state.pending)
    return min(dues, default=datetime.max.replace(tzinfo=UTC))


# When each piece of state can next change by the passing of time alone (None: never).
# `advance` acts on exactly these; the store indexes them (`due_at`).


def alert_due(alert: Alert, cfg: TriageConfig, *, incident_open: bool) -> datetime | None:
    dues = []
    if alert.status == "firing":
        dues.append(alert.last_seen + cfg.alert_timeout)
        if alert.suppressed_until is not None:
            dues.append(alert.suppressed_until)
    if alert.flapping and alert.changes:
        dues.append(alert.changes[-1] + cfg.flap_window)
    if (
        alert.status == "resolved"
        and alert.resolved_at is not None
        and not alert.flapping
        and not incident_open  # pruned only once its incident is gone
    ):
        dues.append(alert.resolved_at + cfg.holddown)
    return min(dues, default=None)


def beat_due(beat: DeviceBeat, cfg: TriageConfig) -> datetime | None:
    if beat.silent:
        return None
    return beat.last_at + timedelta(seconds=beat.interval_s + cfg.heartbeat_grace_s)


def incident_due(inc: Incident, cfg: TriageConfig) -> datetime | None:
    return None if inc.quiet_since is None else inc.quiet_since + cfg.holddown


def pending_due(obj: dict[str, Any], cfg: TriageConfig) -> datetime:
    return parse_event(obj).time + cfg.pending_ttl


def _heartbeat(
    state: CustomerState, data: Heartbeat, *, event_id: str, cfg: TriageConfig, fx: Effects
) -> None:
    state.see_device(data.site_id, data.device_id)
    beat = state.beats.get(data.device_id)
    if beat is not None and data.sent_at <= beat.last_at:
        return  # a duplicate or an older beat
    was_silent = beat is not None and beat.silent
    state.wake(data.sent_at + timedelta(seconds=data.interval_seconds + cfg.heartbeat_grace_s))
    state.beats[data.device_id] = DeviceBeat(
        site_id=data.site_id, last_at=data.sent_at, interval_s=data.interval_seconds
    )
    if was_silent:
        lifecycle.on_resolved(
            state,
            silent_fingerprint(data.device_id),
            event_id=event_id,
            at=data.sent_at,
            ends_at=data.sent_at,
            reason="device sends heartbeats again",
            cfg=cfg,
            fx=fx,
        )


def silent_fingerprint(device_id: str) -> str:
    return f"heartbeat:{device_id}"


def _silent_devices(
    state: CustomerState, version: ContractVersion, clock: datetime, cfg: TriageConfig, fx: Effects
) -> None:
    by_due = sorted(
        state.beats.items(), key=lambda b: (b[1].last_at + timedelta(seconds=b[1].interval_s), b[0])
    )
    for device_id, beat in by_due:
        due = beat.last_at + timedelta(seconds=beat.interval_s + cfg.heartbeat_grace_s)
        if beat.silent or due > clock:
            continue
        beat.silent = True
        event_id = derive_event_id("silent", state.customer_id, device_id, due.isoformat())
        why_not = not_monitored_reason(version, "heartbeat_missing", device_id)
        if why_not is not None:
            fx.record(
                event_id=event_id,
                at=due,
                fingerprint=silent_fingerprint(device_id),
                outcome="not_monitored",
                reason=why_not,
            )
            continue
        fp = silent_fingerprint(device_id)
        alert = Alert(
            alert_id=derive_event_id("alert", state.customer_id, fp, event_id),
            fingerprint=fp,
            device_id=device_id,
            site_id=beat.site_id,
            check="heartbeat",
            check_kind="heartbeat_missing",
            severity="major",
            summary=f"device {device_id} stopped sending heartbeats",
            started_at=due,
            last_seen=due,
            last_event_at=due,
            last_event_id=event_id,
            changes=[due],
        )
        # a silent device stays silent: its alert must not expire while it is
        alert.last_seen = due + timedelta(days=3650)
        state.alerts[fp] = alert
        state.note_alert(alert)
        lifecycle.evaluate(state, version, alert, event_id=event_id, at=due, cfg=cfg, fx=fx)


def _flapping_over(state: CustomerState, clock: datetime, cfg: TriageConfig, fx: Effects) -> None:
    for alert in sorted(state.alerts.values(), key=lambda a: (a.changes[-1:], a.fingerprint)):
        if not alert.flapping:
            continue
        calm_at = flapping.flapping_over(alert.changes, clock, cfg.flap_window)
        if calm_at is None:
            continue
        alert.flapping = False
        inc = state.incidents.get(alert.incident_id or "")
        if inc is None:
            continue
        update = IncidentUpdated(
            incident_id=inc.incident_id,
            flapping=False,
            reason=f"alert {alert.fingerprint} stable for {cfg.flap_window_s} s: flapping over",
            updated_at=calm_at,
        )
        fx.updated(inc, calm_at, f"flapping-over:{alert.alert_id}:{alert.flap_episodes}", update)
        if inc.quiet_since is not None:
            inc.quiet_since = max(inc.quiet_since, calm_at)


def _resolve_quiet_incidents(
    state: CustomerState, clock: datetime, cfg: TriageConfig, fx: Effects
) -> None:
    for incident_id, inc in list(state.incidents.items()):
        if inc.quiet_since is None:
            continue
        if any(a.status == "firing" or a.flapping for a in state.alerts_of(inc)):
            continue
        due = inc.quiet_since + cfg.holddown
        if due > clock:
            continue
        fx.resolved(
            inc,
            due,
            f"all {len(inc.alerts)} alert(s) recovered; hold-down {cfg.holddown_s} s passed",
        )
        fx.record(
            event_id=derive_event_id(incident_id, "resolved"),
            at=due,
            fingerprint=None,
            outcome="incident_resolved",
            reason="all alerts recovered",
            incident_id=incident_id,
        )
        del state.incidents[incident_id]


def _expire_pending(state: CustomerState, clock: datetime, cfg: TriageConfig, fx: Effects) -> None:
    keep: list[dict[str, Any]] = []
    for obj in state.pending:
        event = parse_event(obj)
        if event.time + cfg.pending_ttl <= clock:
            fx.record(
                event_id=event.id,
                at=event.time,
                fingerprint=None,
                outcome="not_monitored",
                reason="not monitored: no contract arrived for the customer",
            )
        else:
            keep.append(obj)
    state.pending = keep
