"""The proof behind the Grafana dashboards (issue 8, Deliver 6): the five services run
(msp_devstack Fleet), a real Prometheus scrapes their /metrics every second, and an
end-to-end scenario through ingest's HTTP API gives every panel something to show.
Then EVERY PromQL expression of EVERY dashboard must return at least one series, and
every metric it names must be exported by some service's /metrics.

The scenario runs twice. The first (warm-up) round makes every labelled series exist:
Prometheus sees a new series first at its current value, so `increase`/`rate` cannot
show the increment that created it (true in production too, right after a restart).
After the second round every panel must also show a finite non-zero value at some
point, except the few whose healthy value is zero (a drained pipeline)."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from obs_dashboards import (
    Target,
    all_targets,
    exported,
    metric_names,
    parse_exposition,
    substitute,
)
from obs_prometheus import Prometheus
from obs_scenario import Scenario, Story

from msp_devstack.access import metrics_headers
from msp_devstack.fleet import Fleet
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import wait_for

pytestmark = pytest.mark.integration

ZERO_IS_HEALTHY = {
    ("pipeline", "Total consumer lag"),
    ("pipeline", "Consumer lag by group"),
    ("pipeline", "Consumer lag by group and partition"),
    ("pipeline", "Outbox pending"),
}
"""Panels whose value is 0 once the pipeline has drained: they must have series only."""


def nonzero(series: list[dict[str, object]]) -> bool:
    values = [float(s["value"][1]) for s in series]  # type: ignore[index]
    return any(math.isfinite(v) and v != 0 for v in values)


def wait_for_panels(
    prometheus: Prometheus, targets: list[Target], *, need_values: bool, what: str
) -> None:
    """Wait (deadline) until every target returns a series (and, with `need_values`, a
    finite non-zero value unless zero is healthy); fail naming each panel that does not."""
    remaining = list(targets)

    def ok(t: Target) -> bool:
        series = prometheus.query(substitute(t.expr))
        if not need_values or (t.dashboard, t.panel) in ZERO_IS_HEALTHY:
            return bool(series)
        return nonzero(series)

    def settled() -> bool:
        remaining[:] = [t for t in remaining if not ok(t)]
        return not remaining

    with contextlib.suppress(AssertionError):  # reported below, one line per panel
        wait_for(settled, timeout=150, interval=1.0, message=what)
    assert not remaining, f"{what}; these did not:\n" + "\n".join(t.where() for t in remaining)


def report(prometheus: Prometheus, targets: list[Target]) -> None:
    """What each panel shows at the end (pytest -rP prints it)."""
    for t in targets:
        series = prometheus.query(substitute(t.expr))
        shown = ", ".join(
            f"{ {k: v for k, v in s['metric'].items() if k != 'instance'} }={s['value'][1]}"
            for s in series[:3]
        )
        print(f"{t.dashboard} / {t.panel}: {len(series)} series: {shown}")


def test_every_dashboard_query_returns_data_from_the_running_services(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    targets = all_targets()
    assert targets, "no dashboard targets found"
    ns = new_namespace()
    with Fleet(
        kafka=kafka_bootstrap, database_url=database_url, namespace=ns, data_dir=tmp_path
    ) as fleet:
        scrape = {name: fleet.url(name).removeprefix("http://") for name in fleet.names}
        with Prometheus(targets=scrape, data_dir=tmp_path / "prometheus") as prometheus:
            wait_for(
                lambda: prometheus.targets_up() == dict.fromkeys(fleet.names, True),
                timeout=60,
                interval=0.5,
                message=lambda: f"every service scraped (now {prometheus.targets_up()})",
            )
            rounds = [
                Story("warm", datetime(2026, 3, 3, 10, tzinfo=UTC)),
                Story("main", datetime(2026, 3, 4, 10, tzinfo=UTC)),
            ]
            for story in rounds:
                scenario = Scenario(fleet, story, kafka=kafka_bootstrap, database_url=database_url)
                try:
                    scenario.run()
                finally:
                    scenario.close()
                if story.tag == "warm":
                    wait_for_panels(
                        prometheus,
                        targets,
                        need_values=False,
                        what="every panel returns a series after the warm-up round",
                    )
            wait_for_panels(
                prometheus,
                targets,
                need_values=True,
                what="every panel shows a non-zero value after the second round",
            )
            report(prometheus, targets)

            # consumer lag comes from every consuming service
            lag = prometheus.query("count by (job, group) (msp_consumer_lag_records)")
            groups = {(s["metric"]["job"], s["metric"]["group"]) for s in lag}
            expected = {
                ("ingest", f"{ns}ingest.raw"),
                ("incidents", f"{ns}incidents.triage"),
                ("incidents", f"{ns}incidents.projection"),
                ("sla-clock", f"{ns}sla-clock.clocks"),
                ("billing", f"{ns}billing.main"),
            }
            assert expected <= groups, f"lag missing for {sorted(expected - groups)}"

            samples: set[str] = set()
            families: set[str] = set()
            for name in fleet.names:
                metrics = fleet.url(name) + "/metrics"
                text = httpx.get(metrics, timeout=10, headers=metrics_headers()).text
                names, types = parse_exposition(text)
                samples |= names
                families |= types
            unknown = [
                f"{t.where()}: metric {m!r} is not exported by any service"
                for t in targets
                for m in sorted(metric_names(t.expr))
                if not exported(m, samples, families)
            ]
            assert not unknown, "\n".join(unknown)
