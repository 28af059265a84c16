"""Corrections: what the SLA topic says stays what the ticket's whole history says.

Rule: a clock's outcomes are those of the replay of the ticket's whole history
(`clock.replay`). Each outcome statement is a *slot* of its clock: a warning (per
threshold and the priority it warned for), the breach, the met, the cancellation. The
topic's first statement for a slot is its original event (SlaWarning, SlaBreached,
SlaMet, SlaClockCancelled). When a later replay disagrees with what the topic holds for
a slot (late events: the breach did not happen, or happened at another instant; a met
is now a breach; a warning was never reached), one `SlaOutcomeCorrected` corrects the
slot's latest event, naming it, and states what is true now for the slot and for the
clock. So a consumer that applies the topic in order (the latest outcome event of a
clock wins) ends with the replay's outcomes: the ticket API's and the report's.

`reconcile` is pure: given what the topic holds (`Said` per slot) and the statements
that are true now, it returns the events to publish and the new `Said` rows. Ids are
deterministic (the corrected event's id and the new instant), so a replay or a retried
transaction produces the same ids and the `emitted` table drops repeats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from msp_events import derive_event_id
from msp_events.base import EventData
from msp_events.types.sla import (
    Outcome,
    SlaBreached,
    SlaClockCancelled,
    SlaEscalated,
    SlaMet,
    SlaOutcomeCorrected,
    SlaWarning,
    Statement,
)
from sla_clock.emissions import Emission

MAX_CAUSES = 100  # `because_of` is bounded in the contract


@dataclass(frozen=True, order=True)
class Slot:
    """One outcome statement of one clock. `percent` and `priority` name a warning
    (0 and "" for the others): after a re-target, the new priority's warnings are new
    statements. `percent` alone names an escalation step (one per clock, like the
    breach)."""

    clock_id: str
    statement: Statement
    percent: int = 0
    priority: str = ""


@dataclass(frozen=True)
class Said:
    """The latest event the topic holds for a slot: its id, the instant it states
    (None: it withdrew the statement) and the clock's identity it was stated with."""

    event_id: str
    at: datetime | None
    identity: Mapping[str, Any]


@dataclass
class Reconciled:
    publish: list[Emission] = field(default_factory=list)
    said: dict[Slot, Said] = field(default_factory=dict)  # only the slots that changed


def statement_of(data: EventData) -> tuple[Slot, datetime] | None:
    """The slot an original outcome event speaks for and the instant it states (None:
    not an outcome statement, e.g. a clock started)."""
    if isinstance(data, SlaWarning):
        return Slot(data.clock_id, "warning", data.threshold_percent, data.priority), data.at
    if isinstance(data, SlaEscalated):
        return Slot(data.clock_id, "escalation", data.threshold_percent), data.at
    if isinstance(data, SlaBreached):
        return Slot(data.clock_id, "breach"), data.breached_at
    if isinstance(data, SlaMet):
        return Slot(data.clock_id, "met"), data.met_at
    if isinstance(data, SlaClockCancelled):
        return Slot(data.clock_id, "cancellation"), data.cancelled_at
    return None


def identity_of(data: EventData) -> dict[str, Any]:
    fields = ("clock_id", "ticket_id", "metric", "cycle", "priority", "contract_id")
    return {k: getattr(data, k) for k in (*fields, "contract_version", "timezone")}


def outcome_of(
    state: Mapping[Slot, datetime | None], clock_id: str
) -> tuple[Outcome, datetime | None]:
    """The clock's outcome from its statements (the ticket API's `outcome`)."""
    outcomes: tuple[tuple[Statement, Outcome], ...] = (
        ("breach", "breached"),
        ("met", "met"),
        ("cancellation", "cancelled"),
    )
    for statement, outcome in outcomes:
        at = state.get(Slot(clock_id, statement))
        if at is not None:
            return outcome, at
    return "pending", None


def correction_id(corrected_event_id: str, now_at: datetime | None) -> str:
    return derive_event_id(
        "sla", "corrected", corrected_event_id, now_at.isoformat() if now_at else "withdrawn"
    )


def reconcile(
    said: Mapping[Slot, Said],
    truth: Sequence[Emission],
    *,
    now: datetime,
    complete: bool,
    identities: Mapping[str, Mapping[str, Any]],
    because_of: Iterable[str] = (),
) -> Reconciled:
    """The events that make the topic say `truth`, given that it says `said`.

    `truth` is what is true now, as emissions: outcome statements and lifecycle events
    (passed through unchanged: the `emitted` table drops repeats). `complete`: `truth`
    holds every true statement of its ticket (a replay), so a slot of `said` it lacks
    did not happen; otherwise (the scheduler firing some deadlines) only the slots it
    holds are compared. `identities`: the current identity of each existing clock (a
    clock of `said` missing from it no longer exists: its outcome is "cancelled").
    `because_of`: the ids of the late events that caused the replay."""
    out = Reconciled()
    true_now: dict[Slot, tuple[Emission, datetime]] = {}
    for emission in truth:
        found = statement_of(emission.data)
        if found is None:
            out.publish.append(emission)
            continue
        slot, at = found
        true_now[slot] = (emission, at)
        if slot not in said:  # first statement: the original event
            out.publish.append(emission)
            out.said[slot] = Said(emission.event_id, at, identity_of(emission.data))
    slots = set(said) | set(true_now) if complete else set(true_now)
    state: dict[Slot, datetime | None] = {s: k.at for s, k in said.items()}
    state.update({s: true_now[s][1] if s in true_now else None for s in slots})
    causes = sorted(set(because_of))[:MAX_CAUSES]
    for slot in sorted(slots & set(said)):
        known, now_at = said[slot], state[slot]
        if known.at == now_at:
            continue
        identity = dict(identities.get(slot.clock_id) or known.identity)
        outcome, outcome_at = outcome_of(state, slot.clock_id)
        if outcome == "pending" and slot.clock_id not in identities:
            outcome, outcome_at = "cancelled", now  # the clock no longer exists
        data = SlaOutcomeCorrected(
            **identity,
            corrects_event_id=known.event_id,
            statement=slot.statement,
            threshold_percent=slot.percent or None,
            was_at=known.at,
            now_at=now_at,
            outcome=outcome,
            outcome_at=outcome_at,
            because_of=causes,
            corrected_at=now,
        )
        event_id = correction_id(known.event_id, now_at)
        out.publish.append(Emission(event_id, now, data))
        out.said[slot] = Said(event_id, now_at, identity)
    return out


def fold(
    events: Iterable[tuple[str, EventData]],
) -> tuple[dict[str, tuple[Outcome, datetime | None]], dict[Slot, datetime | None]]:
    """The consumers' rule, applied to (event id, payload) in topic order: each clock's
    outcome (the latest outcome event wins) and each statement's instant (a correction
    speaks for the slot of the event it corrects; None: withdrawn)."""
    outcomes: dict[str, tuple[Outcome, datetime | None]] = {}
    slots: dict[Slot, datetime | None] = {}
    slot_of_event: dict[str, Slot] = {}
    for event_id, data in events:
        if isinstance(data, SlaOutcomeCorrected):
            slot = slot_of_event[data.corrects_event_id]
            slot_of_event[event_id] = slot
            slots[slot] = data.now_at
            outcomes[data.clock_id] = (data.outcome, data.outcome_at)
            continue
        found = statement_of(data)
        if found is None:
            continue
        slot, at = found
        slot_of_event[event_id] = slot
        slots[slot] = at
        if slot.statement not in ("warning", "escalation"):
            outcome, _ = outcome_of({slot: at}, slot.clock_id)
            outcomes[slot.clock_id] = (outcome, at)
    return outcomes, slots
