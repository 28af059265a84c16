"""The end-to-end benchmark's pure parts (`bench/e2e.py`): how a step is judged, which
rate counts as sustained, the webhook it sends and how it reads triage. No timings are
asserted here: the benchmark measures, `make bench-e2e` runs it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `bench` is a folder of the repository, not a package
    sys.path.insert(0, str(ROOT))

from bench.e2e import (  # noqa: E402
    ALERTS_PER_REQUEST,
    ALERTS_PER_SITE,
    Ledger,
    StepRecord,
    StepVerdict,
    backlog_series,
    judge_step,
    note_triage,
    percentile,
    slope,
    sustained_rate,
    webhook,
)
from ingest.adapters.alertmanager import parse  # noqa: E402
from msp_access.labels import LabelNames  # noqa: E402


def step(
    *, rate: float = 100.0, lag: float = 0.2, untriaged: int = 0, failed: int = 0
) -> StepRecord:
    """A 10 s step at `rate` alerts/s, one alert every 1/rate s, each triaged `lag` s
    after it was accepted, the last `untriaged` never."""
    n = int(rate * 10)
    accepted = [i / rate for i in range(n)]
    triaged: list[float | None] = [a + lag for a in accepted]
    for i in range(n - untriaged, n):
        triaged[i] = None
    return StepRecord(
        rate=rate,
        start=0.0,
        end=10.0,
        judged_at=30.0,
        offered=n,
        failed_requests=failed,
        accepted_at=accepted,
        triaged_at=triaged,
    )


def verdict(rate: float, passed: bool) -> StepVerdict:
    return StepVerdict(
        rate=rate,
        offered_per_s=rate,
        accepted_per_s=rate,
        triaged_per_s=rate,
        lag_p50_s=0.1,
        lag_p99_s=0.2,
        lag_max_s=0.3,
        untriaged=0,
        backlog_slope_per_s=0.0,
        backlog_growing=False,
        failed_requests=0,
        passed=passed,
    )


def test_a_step_that_keeps_up_passes() -> None:
    v = judge_step(step(lag=0.5))
    assert v.passed, v.reasons
    assert [v.lag_p50_s, v.lag_p99_s, v.lag_max_s] == pytest.approx([0.5] * 3)
    assert v.offered_per_s == v.accepted_per_s == v.triaged_per_s == 100.0
    assert not v.backlog_growing


def test_a_p99_over_two_seconds_fails() -> None:
    v = judge_step(step(lag=2.5))
    assert not v.passed
    assert any("p99" in r for r in v.reasons)


def test_alerts_never_triaged_count_as_waiting_until_judged() -> None:
    v = judge_step(step(untriaged=50))
    assert not v.passed
    assert v.untriaged == 50
    assert v.lag_max_s == pytest.approx(
        30.0 - 9.5
    )  # the first untriaged, accepted at 9.5 s, judged at 30 s
    assert v.triaged_per_s == 95.0


def test_a_backlog_that_grows_fails() -> None:
    # triage at half the offered rate: the backlog rises by ~50 alerts/s
    s = step()
    half_rate = [i * 2 / s.rate for i in range(len(s.accepted_at))]
    v = judge_step(StepRecord(**{**s.__dict__, "triaged_at": half_rate}))
    assert v.backlog_growing
    assert 40 < v.backlog_slope_per_s < 60
    assert not v.passed


def test_failed_requests_fail_the_step() -> None:
    v = judge_step(step(failed=1))
    assert not v.passed
    assert v.failed_requests == 1


def test_sustained_rate_is_the_last_pass_before_the_first_failure() -> None:
    steps = [verdict(250, True), verdict(500, True), verdict(1000, False), verdict(1500, True)]
    assert sustained_rate(steps) == 500
    assert sustained_rate([verdict(250, False)]) == 0
    assert sustained_rate([]) == 0


@given(st.lists(st.booleans(), max_size=8))
def test_sustained_rate_is_a_passing_step_with_only_passes_before_it(passes: list[bool]) -> None:
    steps = [verdict(250.0 * (i + 1), p) for i, p in enumerate(passes)]
    best = sustained_rate(steps)
    if best:
        at = next(i for i, v in enumerate(steps) if v.rate == best)
        assert all(v.passed for v in steps[: at + 1])
        assert at + 1 == len(steps) or not steps[at + 1].passed
    else:
        assert not steps or not steps[0].passed


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1), st.floats(0, 1))
def test_percentile_is_one_of_the_values(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert min(values) <= p <= max(values)


@given(
    st.lists(
        st.tuples(st.floats(0, 10), st.one_of(st.none(), st.floats(0, 20))),
        max_size=50,
    )
)
def test_the_backlog_is_never_negative_and_ends_at_the_untriaged(
    alerts: list[tuple[float, float | None]],
) -> None:
    accepted = [a for a, _ in alerts]
    triaged = [None if t is None else max(a, t) for a, t in alerts]
    series = backlog_series(accepted, triaged, start=0.0, end=30.0)
    assert all(n >= 0 for _, n in series)
    assert series[-1][1] == sum(1 for t in triaged if t is None)


def test_slope_of_a_line() -> None:
    assert slope([(t, 3.0 * t + 1) for t in range(5)]) == 3.0
    assert slope([(0.0, 1.0)]) == 0.0


def test_the_webhook_is_what_ingest_accepts_one_new_alert_each() -> None:
    fps = [f"fp-{i}" for i in range(ALERTS_PER_REQUEST)]
    body = webhook("cust-e2e-01", fps, datetime.now(UTC))
    _, events = parse(json.loads(body), labels=LabelNames(), default_customer=None)
    assert [e.data.source_fingerprint for e in events] == fps
    assert {e.customer_id for e in events} == {"cust-e2e-01"}
    sites = [e.data.site_id for e in events]
    assert len(set(sites)) == ALERTS_PER_REQUEST // ALERTS_PER_SITE
    assert len({e.data.device_id for e in events}) == ALERTS_PER_REQUEST


def test_one_alert_per_site_gives_every_alert_its_own_site() -> None:
    fps = [f"fp-{i}" for i in range(ALERTS_PER_REQUEST)]
    hook = json.loads(webhook("cust-e2e-01", fps, datetime.now(UTC), per_site=1))
    assert len({a["labels"]["site"] for a in hook["alerts"]}) == ALERTS_PER_REQUEST


def test_triage_records_mark_their_alerts() -> None:
    ledger = Ledger(prefix="run1-")
    opened = {"type": "msp.incident.opened.v1", "data": {"alert_fingerprints": ["run1-000000001"]}}
    updated = {"type": "msp.incident.updated.v1", "data": {"alerts_attached": ["run1-000000002"]}}
    other = {"type": "msp.incident.updated.v1", "data": {"alerts_attached": ["other-1"]}}
    for event, at in ((opened, 5.0), (updated, 6.0), (other, 7.0), (updated, 9.0)):
        note_triage(ledger, json.dumps(event).encode(), at)
    assert ledger.triaged_at == {1: 5.0, 2: 6.0}  # the first record counts
    assert ledger.fingerprint(1) == "run1-000000001"
