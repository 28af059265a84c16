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
from typing import Any, Literal

from msp_events.types.contracts import ContractVersion, EscalationStep

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


# -- memoised per contract version (the replay asks the same questions per clock) -------

_MEMO: dict[int, tuple[object, dict[Any, Any]]] = {}
_MEMO_OWNERS = 4096  # parsed contract versions remembered (cleared when full)


def _memo(owner: object) -> dict[Any, Any]:
    """The answers cached for `owner` (a parsed contract version, or its plan): keyed
    by identity, holding `owner` so its id cannot be reused while cached. Versions are
    frozen and never mutated, so an answer holds as long as the object lives."""
    entry = _MEMO.get(id(owner))
    if entry is None or entry[0] is not owner:
        if len(_MEMO) >= _MEMO_OWNERS:
            _MEMO.clear()
        entry = (owner, {})
        _MEMO[id(owner)] = entry
    return entry[1]


def version_steps(version: ContractVersion, target_seconds: int) -> list[Step]:
    """`step_schedule` of `version` for a target (memoised)."""
    memo = _memo(version)
    steps = memo.get(target_seconds)
    if steps is None:
        steps = step_schedule(
            warnings_percent=version.sla.warning_thresholds_percent,
            plan=version.escalation_plan,
            target_seconds=target_seconds,
        )
        memo[target_seconds] = steps
    return list(steps)


def plan_escalation(plan: Sequence[EscalationStep], percent: int) -> tuple[int, list[str]]:
    """`escalation_for` (memoised per plan object; the roles are a fresh list)."""
    memo = _memo(plan)
    found = memo.get(percent)
    if found is None:
        found = escalation_for(plan, percent)
        memo[percent] = found
    return found[0], list(found[1])
