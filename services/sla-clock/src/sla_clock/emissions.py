"""SLA output events as values: an `Emission` is an event id, its instant and its
payload. Ids are deterministic, so a replay yields the same ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from msp_events import Envelope, derive_event_id, make_event
from msp_events.base import EventData
from msp_events.tracing import TraceContext
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaWarning
from sla_clock.thresholds import BREACH_PERCENT

SOURCE = "/sla-clock"


def envelope_of(emission: Emission, *, customer_id: str) -> Envelope:
    """The output envelope of an emission, validated (`make_event`): where an emission
    must be proven publishable (`waiting.blame`)."""
    return _envelope(emission, customer_id=customer_id, parent=None, trusted=False)


def built_envelope(
    emission: Emission, *, customer_id: str, parent: TraceContext | None = None
) -> Envelope:
    """What `envelope_of` then `continue_trace(..., parent)` return, built without
    validating the envelope again (`make_event(trusted=True)`): the payload was validated
    (or built by `clock.started_event`'s guard), the customer id comes from a validated
    event or row, the id is derived, the span derived from a parsed parent. An instant
    validation would change or refuse takes the validating path (which raises)."""
    return _envelope(emission, customer_id=customer_id, parent=parent, trusted=True)


def _envelope(
    emission: Emission, *, customer_id: str, parent: TraceContext | None, trusted: bool
) -> Envelope:
    data = emission.data
    return make_event(
        data,
        customer_id=customer_id,
        source=SOURCE,
        time=emission.at,
        subject=str(getattr(data, "ticket_id", "")) or None,
        id=emission.event_id,
        cause=parent,
        trusted=trusted,
    )


@dataclass(frozen=True)
class Emission:
    event_id: str
    at: datetime
    data: EventData


def sla_event_id(ticket_id: str, metric: str, cycle: int, *parts: str) -> str:
    """Deterministic ids: (ticket, metric, cycle, what happened[, cause]). A replay of
    the same log yields the same ids, and the `emitted` table drops repeats."""
    return derive_event_id("sla", ticket_id, metric, str(cycle), *parts)


def threshold_emission(
    identity: dict[str, object],
    *,
    percent: int,
    instant: datetime,
    due_at: datetime,
    target_s: int,
    level: int,
    roles: list[str],
) -> Emission:
    """Shared by the replay (catch-up) and the scheduler (on time), so both produce the
    same id and payload. Warning ids name the priority: after a re-target the new
    target's warnings are news; a breach is one per clock, and so is each escalation
    step above it (moved or withdrawn later by a correction, `corrections.py`)."""
    ticket, metric, cycle = str(identity["ticket_id"]), str(identity["metric"]), identity["cycle"]
    assert isinstance(cycle, int)
    if percent > BREACH_PERCENT:
        data: EventData = SlaEscalated(
            **identity,
            threshold_percent=percent,
            escalation_level=level,
            roles_to_inform=roles,
            due_at=min(due_at, instant),
            elapsed_business_seconds=target_s * percent // 100,
            at=instant,
        )
        event_id = sla_event_id(ticket, metric, cycle, "escalated", str(percent))
        return Emission(event_id, instant, data)
    if percent == BREACH_PERCENT:
        data = SlaBreached(
            **identity,
            due_at=instant,
            breached_at=instant,
            escalation_level=level,
            roles_to_inform=roles,
        )
        return Emission(sla_event_id(ticket, metric, cycle, "breached"), instant, data)
    data = SlaWarning(
        **identity,
        threshold_percent=percent,
        escalation_level=level,
        roles_to_inform=roles,
        due_at=max(due_at, instant),
        elapsed_business_seconds=target_s * percent // 100,
        at=instant,
    )
    event_id = sla_event_id(
        ticket, metric, cycle, "warning", str(percent), str(identity["priority"])
    )
    return Emission(event_id, instant, data)
