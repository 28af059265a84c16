"""The dashboard JSON files are well-formed (fast, no services): unique panel ids,
every panel has a unit, every panel, target and variable queries the `datasource`
template variable (so a dashboard works against a Prometheus of any name), dashboards
are not editable, variables are ones the Prometheus-backed test knows how to
substitute, and each expression names a metric."""

from __future__ import annotations

import pytest
import yaml
from obs_dashboards import (
    DASHBOARDS,
    DATASOURCE,
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
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for key in ("h", "w", "x", "y"):
            assert isinstance(panel["gridPos"][key], int), panel["title"]
    for var in dashboard["templating"]["list"]:
        if var["type"] != "datasource":
            assert var["datasource"] == DATASOURCE, var["name"]
    for target in targets(name):
        assert target.expr.strip(), f"empty expr: {target.where()}"
        assert target.datasource_uid == DATASOURCE["uid"], target.where()
        assert substitute(target.expr)  # only variables the Prometheus test can fill in
        assert metric_names(target.expr), f"no metric in {target.where()}"
        if "$customer" in target.expr:
            assert '=~"$customer"' in target.expr, f"multi-value needs =~: {target.where()}"


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_has_a_unit(name: str) -> None:
    """Grafana shows a bare number without one: "1.2" of what (events/s? seconds?)."""
    missing = [
        p["title"]
        for p in panels(load(name))
        if p["type"] != "row" and not p.get("fieldConfig", {}).get("defaults", {}).get("unit")
    ]
    assert not missing, f"{name}: panels without fieldConfig.defaults.unit: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_datasource_is_a_variable(name: str) -> None:
    """One `datasource` variable of type datasource over Prometheus; the panels use it
    (checked above), so the dashboard works against a datasource of any name or uid."""
    variables = load(name)["templating"]["list"]
    chosen = [v for v in variables if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in chosen] == [("datasource", "prometheus")]
    assert variables[0] is chosen[0], "the datasource comes first: other variables query it"


@pytest.mark.parametrize("name", NAMES)
def test_provisioned_dashboard_is_not_editable(name: str) -> None:
    """The files here are the source of truth: an edit in Grafana's UI would be lost
    at the next provisioning, so the UI does not offer it."""
    assert load(name)["editable"] is False, f"{name}: editable in Grafana"


def test_provisioning_forbids_ui_changes() -> None:
    provisioning = DASHBOARDS.parent / "provisioning"
    for path in sorted((provisioning / "dashboards").glob("*.yaml")):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            assert provider["allowUiUpdates"] is False, path.name
    for path in sorted((provisioning / "datasources").glob("*.yaml")):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            assert ds["editable"] is False, path.name


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
