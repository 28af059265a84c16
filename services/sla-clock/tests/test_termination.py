"""A contract's termination cancels the ticket's live clocks with a reason; nothing is
announced or scheduled after it (clock.py: "Termination"), as a pure replay."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from msp_events.types.sla import SlaBreached, SlaClockCancelled, SlaWarning
from sla_clock.clock import replay
from sla_clock.transitions import Transition

from .conftest import london, snapshot

FRI_1755 = london(2026, 3, 6, 17, 55)  # first response due Mon 08:55 (warnings 08:40, 08:49)
MON_0845 = london(2026, 3, 9, 8, 45)


def created(at: datetime) -> Transition:
    return Transition("created", at, "e-created", priority="P3")


def test_termination_cancels_the_running_clocks_and_later_thresholds_never_come() -> None:
    out = replay(
        [created(FRI_1755)],
        snapshot(),
        ticket_id="T1",
        now=london(2026, 3, 20, 12),
        terminated_at=MON_0845,
    )
    cancelled = [e for e in out.emissions if isinstance(e.data, SlaClockCancelled)]
    assert sorted(c.data.metric for c in cancelled) == ["first_response", "resolution"]
    assert {c.data.cancelled_at for c in cancelled} == {MON_0845}
    assert all("contract terminated" in c.data.reason for c in cancelled)
    # the 75 % warning at 08:40 came before the end and stands; 90 % and the breach not
    warnings = [e.data for e in out.emissions if isinstance(e.data, SlaWarning)]
    assert [(w.metric, w.threshold_percent) for w in warnings] == [("first_response", 75)]
    assert not [e for e in out.emissions if isinstance(e.data, SlaBreached)]
    assert out.deadlines == {}
    assert {c.state for c in out.clocks} == {"cancelled"}


def test_a_termination_ahead_schedules_nothing_at_or_after_it() -> None:
    out = replay(
        [created(FRI_1755)], snapshot(), ticket_id="T1", now=FRI_1755, terminated_at=MON_0845
    )
    response = out.deadlines[("first_response", 1)]
    assert [(d.percent, d.due_at) for d in response] == [(75, london(2026, 3, 9, 8, 40))]
    assert not [e for e in out.emissions if isinstance(e.data, SlaClockCancelled)]


def test_no_clock_starts_or_restarts_after_the_termination() -> None:
    later = replay(
        [created(MON_0845 + timedelta(hours=1))],
        snapshot(),
        ticket_id="T2",
        now=london(2026, 3, 20, 12),
        terminated_at=MON_0845,
    )
    assert later.clocks == [] and later.no_clock_reason is not None
    assert "terminated" in later.no_clock_reason
    reopened = replay(
        [
            created(FRI_1755),
            Transition("resolved", london(2026, 3, 9, 8, 30), "e-r"),
            Transition("reopened", london(2026, 3, 9, 9), "e-o"),
        ],
        snapshot(),
        ticket_id="T3",
        now=london(2026, 3, 20, 12),
        terminated_at=MON_0845,
    )
    assert [(c.metric, c.cycle) for c in reopened.clocks] == [
        ("first_response", 1),
        ("resolution", 1),
    ]


@settings(deadline=None)
@given(end_minutes=st.integers(0, 14 * 24 * 60), now_minutes=st.integers(0, 21 * 24 * 60))
def test_nothing_is_announced_or_scheduled_at_or_after_the_termination(
    end_minutes: int, now_minutes: int
) -> None:
    ended = FRI_1755 + timedelta(minutes=end_minutes)
    now = FRI_1755 + timedelta(minutes=now_minutes)
    out = replay([created(FRI_1755)], snapshot(), ticket_id="T1", now=now, terminated_at=ended)
    for e in out.emissions:
        if isinstance(e.data, SlaWarning | SlaBreached):
            assert e.at < ended
    for due in out.deadlines.values():
        assert all(d.due_at < ended for d in due)
    live = [c for c in out.clocks if c.state in ("running", "paused")]
    assert (ended <= now and live == []) or ended > now
