"""Priority: the ITIL matrix, the inputs to it, the tier order, and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from incidents.priority import MATRIX, assess, impact_of, sort_key, urgency_of

LEVELS = ["low", "medium", "high"]
SEVERITIES = ["info", "warning", "minor", "major", "critical"]
KINDS = ["server_down", "internet_down", "backup_failure", "disk_space", "cpu", "other"]
SCOPES = ["device", "site", "customer"]


def test_matrix_corners() -> None:
    assert MATRIX[("high", "high")] == "P1"
    assert MATRIX[("low", "low")] == "P5"
    assert MATRIX[("medium", "medium")] == "P3"


@given(st.sampled_from(LEVELS), st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_more_impact_or_urgency_never_lowers_priority(i: str, u: str, more: str) -> None:
    p = MATRIX[(i, u)]
    if LEVELS.index(more) >= LEVELS.index(i):
        assert MATRIX[(more, u)] <= p
    if LEVELS.index(more) >= LEVELS.index(u):
        assert MATRIX[(i, more)] <= p


def test_impact_and_urgency_inputs() -> None:
    assert impact_of("site", "warning") == "high"
    assert impact_of("device", "critical") == "medium"
    assert impact_of("device", "warning") == "low"
    assert urgency_of("server_down", False) == "high"
    assert urgency_of("backup_failure", False) == "medium"
    assert urgency_of("backup_failure", True) == "high"  # business-critical: one step up
    assert urgency_of("cpu", True) == "medium"


@given(
    st.sampled_from(SCOPES),
    st.sampled_from(SEVERITIES),
    st.sampled_from(KINDS),
    st.booleans(),
    st.sampled_from(["managed_vip", "managed", "on_demand"]),
)
def test_reason_explains_the_priority(
    scope: str, severity: str, kind: str, critical: bool, tier: str
) -> None:
    a = assess(
        scope=scope,
        severity=severity,
        check_kind=kind,
        business_critical=critical,
        tier=tier,  # type: ignore[arg-type]
    )
    assert a.priority == MATRIX[(a.impact, a.urgency)]
    for part in (f"impact {a.impact}", f"urgency {a.urgency}", a.priority, f"tier {tier}", kind):
        assert part in a.reason


def test_vip_sorts_before_managed_before_on_demand_at_equal_priority() -> None:
    now = datetime(2026, 3, 3, tzinfo=UTC)
    queue = [
        ("P2", "on_demand", now),
        ("P2", "managed", now - timedelta(hours=1)),
        ("P2", "managed_vip", now + timedelta(hours=1)),
        ("P1", "on_demand", now + timedelta(hours=2)),
    ]
    ordered = sorted(queue, key=lambda q: sort_key(*q))
    assert [(p, tier) for p, tier, _ in ordered] == [
        ("P1", "on_demand"),
        ("P2", "managed_vip"),
        ("P2", "managed"),
        ("P2", "on_demand"),
    ]
