"""The dashboard JSON files are well-formed (fast, no services): unique panel ids,
every target has an expression on the `prometheus` datasource, variables are ones the
Prometheus-backed test knows how to substitute, and each expression names a metric."""

from __future__ import annotations

import pytest
from obs_dashboards import (
    NAMES,
    exported,
    load,
    metric_names,
    panels,
    parse_exposition,
    substitute,
    targets,
)


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_is_well_formed(name: str) -> None:
    dashboard = load(name)
    assert dashboard["uid"] == f"msp-{name}"
    assert dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids {sorted(ids)}"
    titles = [p["title"] for p in panels(dashboard)]
    assert len(titles) == len(set(titles)), f"{name}: duplicate panel titles"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"{name}: panel {panel['title']!r} has no targets"
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        for key in ("h", "w", "x", "y"):
            assert isinstance(panel["gridPos"][key], int), panel["title"]
    for var in dashboard["templating"]["list"]:
        assert var["datasource"]["uid"] == "prometheus", var["name"]
    for target in targets(name):
        assert target.expr.strip(), f"empty expr: {target.where()}"
        assert target.datasource_uid == "prometheus", target.where()
        assert substitute(target.expr)  # only variables the Prometheus test can fill in
        assert metric_names(target.expr), f"no metric in {target.where()}"
        if "$customer" in target.expr:
            assert '=~"$customer"' in target.expr, f"multi-value needs =~: {target.where()}"


def test_metric_names_are_parsed_from_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, schema) (rate(msp_produce_latency_seconds_bucket"
        '{schema=~"a|b"}[$__rate_interval]))) / on (schema) group_left max(msp_outbox_pending)'
        ' - 1e3 * sum without (job) (increase(msp_x_total{type="msp.ticket.created.v1"}[5m]))'
    )
    assert metric_names(expr) == {
        "msp_produce_latency_seconds_bucket",
        "msp_outbox_pending",
        "msp_x_total",
    }


def test_exported_names_come_from_the_exposition_with_client_suffixes() -> None:
    text = "\n".join(
        [
            "# HELP msp_a_total Things.",
            "# TYPE msp_a counter",
            'msp_a_total{x="1"} 2.0',
            'msp_a_created{x="1"} 1.7e9',
            "# TYPE msp_h_seconds histogram",
            'msp_h_seconds_bucket{le="+Inf"} 1.0',
            "msp_h_seconds_count 1.0",
            "msp_g 3",
        ]
    )
    samples, families = parse_exposition(text)
    assert families == {"msp_a", "msp_h_seconds"}
    for name in ("msp_a_total", "msp_h_seconds_bucket", "msp_h_seconds_sum", "msp_g"):
        assert exported(name, samples, families), name
    for name in ("msp_b_total", "msp_h_bucket", "msp_g_total"):
        assert not exported(name, samples, families), name
