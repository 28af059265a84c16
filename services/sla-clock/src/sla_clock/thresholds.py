"""Which steps a clock announces, and whom each one escalates to.

Rules (`step_schedule`):
* A clock announces, in ascending order of percent of its target: each of the
  contract's `warning_thresholds_percent` (default 75, 90) and each escalation plan
  step below 100 % (warnings), then 100 % (the breach), then each plan step above
  100 % (escalations after the breach, e.g. 150 %, 200 %). So every step of the plan
  is announced on time, once per clock.
* A step's mark is whole business seconds, rounded down: 75 % of a 1-minute target is
  45 s, 150 % of it 90 s.
* The escalation step for a percent is the plan's step with the highest
  `threshold_percent` not above it (75 % -> the 75 step, 90 % -> the 90 step, breach ->
  the 100 step, 150 % -> the 150 step). No such step: level 0, nobody named.
* The roles to inform are the step's `roles_to_inform`, then its RACI *accountable*
  and *informed* roles (the ones who must be told; responsible and consulted are
  doing the work), without repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from msp_events.types.contracts import EscalationStep

BREACH_PERCENT = 100
StepKind = Literal["warning", "breach", "escalation"]


@dataclass(frozen=True)
class Step:
    """One announcement of a clock: at `percent` of the target (`mark_s` business
    seconds), of `kind`, to the plan's `level` and `roles`."""

    percent: int
    mark_s: int
    kind: StepKind
    level: int
    roles: tuple[str, ...]


def kind_of(percent: int) -> StepKind:
    if percent < BREACH_PERCENT:
        return "warning"
    return "breach" if percent == BREACH_PERCENT else "escalation"


def step_schedule(
    *, warnings_percent: Sequence[int], plan: Sequence[EscalationStep], target_seconds: int
) -> list[Step]:
    """Every step a clock with this target announces, ascending (see the module rules)."""
    percents = {p for p in warnings_percent if p < BREACH_PERCENT}
    percents |= {s.threshold_percent for s in plan}
    percents.add(BREACH_PERCENT)
    steps = []
    for percent in sorted(percents):
        level, roles = escalation_for(plan, percent)
        mark = target_seconds * percent // 100
        steps.append(Step(percent, mark, kind_of(percent), level, tuple(roles)))
    return steps


def escalation_for(plan: Sequence[EscalationStep], percent: int) -> tuple[int, list[str]]:
    """(escalation level, roles to inform) for a crossed threshold."""
    step = None
    for candidate in plan:
        if candidate.threshold_percent <= percent:
            step = candidate
    if step is None:
        return 0, []
    roles: list[str] = []
    for role in [*step.roles_to_inform, *step.accountable, *step.informed]:
        if role not in roles:
            roles.append(role)
    return step.level, roles
