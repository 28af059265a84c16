"""Reading the Grafana dashboards of deploy/grafana/dashboards: their panels and
targets, Grafana's variables substituted for a plain Prometheus query, and the metric
names a PromQL expression reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
NAMES = ("sla", "incidents", "billing", "pipeline")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""What every panel, target and query variable names: the dashboard's `datasource`
variable (type datasource, query prometheus), never a fixed datasource."""

# What Grafana fills in at query time, and what we give Prometheus instead.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "10m",
    "$customer": ".*",  # "All" (every customer matcher uses =~)
}

PROMQL_WORDS = {
    # aggregations, functions we use or may use, keywords and modifiers
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values", "group", "by", "without", "on", "ignoring",
    "group_left", "group_right", "bool", "and", "or", "unless", "offset", "rate",
    "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile",
    "label_replace", "label_join", "abs", "ceil", "floor", "round", "clamp_min",
    "clamp_max", "clamp", "vector", "scalar", "time", "absent", "sort", "sort_desc",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time",
    "count_over_time", "last_over_time", "resets", "changes", "inf", "nan",
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel_id: int
    panel: str
    expr: str
    datasource_uid: str | None

    def where(self) -> str:
        return f"dashboard {self.dashboard!r}, panel {self.panel!r}, expr {self.expr!r}"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def targets(name: str) -> list[Target]:
    out = []
    for panel in panels(load(name)):
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel.get("datasource") or {}
            out.append(
                Target(name, panel["id"], panel["title"], target.get("expr", ""), ds.get("uid"))
            )
    return out


def all_targets() -> list[Target]:
    return [t for name in NAMES for t in targets(name)]


def substitute(expr: str) -> str:
    for var in sorted(SUBSTITUTIONS, key=len, reverse=True):  # $__range before $__r...
        expr = expr.replace(var, SUBSTITUTIONS[var])
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable left in {expr!r}")
    return expr


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER_SUFFIX = re.compile(r"\d[a-zA-Z_]*")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not PromQL words,
    function calls, label names (in matchers and groupings) or inside strings."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER_SUFFIX.sub(" ", text)  # 0.99, 1e3, 5m
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        after = text[match.end() :].lstrip()
        if word.lower() in PROMQL_WORDS or after.startswith("("):
            continue
        names.add(word)
    return names


SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def exported(name: str, samples: set[str], families: set[str]) -> bool:
    """Whether `name` is on some service's /metrics: as a sample name, or as a family
    name (# TYPE) plus one of the suffixes Prometheus client libraries add."""
    if name in samples or name in families:
        return True
    return any(name.endswith(s) and name[: -len(s)] in families for s in SUFFIXES)


def parse_exposition(text: str) -> tuple[set[str], set[str]]:
    """(sample names, family names) of a Prometheus text exposition."""
    samples, families = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
        elif line and not line.startswith("#"):
            samples.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return samples, families
