"""Which thresholds a clock has, and whom each one escalates to.

Rules:
* A clock crosses each of the contract's `warning_thresholds_percent` (default 75, 90)
  and then 100 % (the breach). Threshold marks are whole business seconds, rounded
  down: 75 % of a 1-minute target is 45 s.
* The escalation step for a threshold is the plan's step with the highest
  `threshold_percent` not above it (75 % -> the 75 step, 90 % -> the 90 step, breach ->
  the 100 step). No such step: level 0, nobody named.
* The roles to inform are the step's `roles_to_inform`, then its RACI *accountable*
  and *informed* roles (the ones who must be told; responsible and consulted are
  doing the work), without repeats.
* Steps above 100 % (escalation after a breach) are not scheduled by this service.
"""

from __future__ import annotations

from collections.abc import Sequence

from msp_events.types.contracts import EscalationStep

BREACH_PERCENT = 100


def threshold_marks(warnings_percent: Sequence[int], target_seconds: int) -> list[tuple[int, int]]:
    """(percent, business seconds) for each warning, then the breach, ascending."""
    marks = [(p, target_seconds * p // 100) for p in warnings_percent if p < BREACH_PERCENT]
    marks.append((BREACH_PERCENT, target_seconds))
    return marks


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
