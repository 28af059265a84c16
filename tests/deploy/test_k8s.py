"""Every kustomize overlay renders, and every rendered object validates offline: core
kinds against the Kubernetes OpenAPI schemas bundled by kubernetes-validate, custom
resources (Strimzi, KEDA, prometheus-operator) against the vendored CRD schemas. Then
the operational rules: probes, non-root, PDBs, scrapeable ports, and autoscaling that
matches the real consumer groups and never exceeds the partitions."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes_validate
import pytest
from deploy_manifests import (
    CRD_FILES,
    K8S_VERSION,
    OVERLAYS,
    REPO,
    crd_errors,
    label_of,
    of_kind,
    render,
)

from billing.__main__ import build as build_billing
from billing.settings import BillingSettings
from incidents.runtime import IncidentsRuntime
from incidents.settings import IncidentsSettings
from ingest.runtime import IngestRuntime
from ingest.settings import IngestSettings
from msp_devstack.stack import SERVICES
from msp_events.topics import by_name
from msp_plumbing.runtime import ServiceRuntime
from notify.runtime import NotifyRuntime
from notify.settings import NotifySettings
from sla_clock.runtime import SlaRuntime
from sla_clock.settings import SlaSettings

Docs = tuple[dict[str, Any], ...]
GRAFANA = "grafana"
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, Docs]:
    name: str = request.param
    return name, render(f"overlays/{name}")


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_object_is_valid_kubernetes(overlay: tuple[str, Docs]) -> None:
    name, docs = overlay
    errors = []
    for obj in docs:
        if not DNS1123.fullmatch(obj["metadata"]["name"]):
            errors.append(f"{label_of(obj)}: not a DNS-1123 name")
        group = obj["apiVersion"].partition("/")[0] if "/" in obj["apiVersion"] else ""
        if (group, obj["kind"]) in CRD_FILES:
            errors += [f"{label_of(obj)}: {e}" for e in crd_errors(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path))
            errors.append(f"{label_of(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{label_of(obj)}: no schema for {obj['apiVersion']} (typo?)")
    assert not errors, f"overlay {name}:\n" + "\n".join(errors)


def test_validation_is_strict() -> None:
    # the validators reject what the API server would reject or silently drop
    deployment = json.loads(json.dumps(of_kind(render("overlays/dev"), "Deployment")["ingest"]))
    _container(deployment)["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": 8080}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    scaled = json.loads(json.dumps(of_kind(render("overlays/dev"), "ScaledObject")["ingest"]))
    scaled["spec"]["maxReplicas"] = 3
    scaled["spec"]["triggers"][0]["metadata"] = "not a map"
    errors = crd_errors(scaled)
    assert any("maxReplicas: unknown field" in e for e in errors), errors
    assert any("triggers/0/metadata" in e for e in errors), errors


def test_overlay_namespaces_and_images(overlay: tuple[str, Docs]) -> None:
    name, docs = overlay
    assert {d["metadata"].get("namespace") for d in docs} == {f"msp-{name}"}
    tag = {"dev": "dev", "prod": "0.1.0"}[name]
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    images = {c["image"] for pod in pods for c in pod["containers"]}
    expected = {f"msp-ops/{s.name}:{tag}" for s in SERVICES} | {f"msp-ops/init:{tag}"}
    assert images == expected


def test_deployments_are_probed_non_root_and_budgeted(overlay: tuple[str, Docs]) -> None:
    name, docs = overlay
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == {s.name for s in SERVICES}
    budgets = of_kind(docs, "PodDisruptionBudget").values()
    for service in SERVICES:
        deployment = deployments[service.name]
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert container["command"] == ["python", "-m", service.package]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["securityContext"]["runAsNonRoot"] is True
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])
        labels = pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
        covering = [b for b in budgets if _selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{name}/{service.name}: want one PDB, got {len(covering)}"
        assert covering[0]["spec"].get("maxUnavailable") == 1


def test_prod_is_bigger_than_dev() -> None:
    dev, prod = (of_kind(render(f"overlays/{o}"), "Deployment") for o in ("dev", "prod"))
    for service in SERVICES:
        assert prod[service.name]["spec"]["replicas"] >= 2, "prod keeps one pod through drains"
        assert dev[service.name]["spec"]["replicas"] == 1
        dev_mem = _container(dev[service.name])["resources"]["limits"]["memory"]
        prod_mem = _container(prod[service.name])["resources"]["limits"]["memory"]
        assert _mebibytes(prod_mem) > _mebibytes(dev_mem)


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_secrets_only_referenced_never_shipped_to_prod(overlay: tuple[str, Docs]) -> None:
    name, docs = overlay
    secrets = of_kind(docs, "Secret")
    refs = {
        (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert refs == {
        ("msp-secrets", "DATABASE_URL"),
        ("msp-secrets", "MSP_API_KEY_PEPPER"),
        ("msp-secrets", "MSP_METRICS_TOKEN"),
        ("msp-secrets", "MSP_WEBHOOK_SECRET"),  # notify's webhook signing key
        ("msp-secrets", "MSP_SMTP_PASSWORD"),  # notify's mail relay login
    }
    if name == "prod":
        assert not secrets, "prod must not ship the placeholder Secret (create it out of band)"
    else:
        assert set(secrets["msp-secrets"]["stringData"]) == {k for _, k in refs}


def test_every_service_is_scrapeable(overlay: tuple[str, Docs]) -> None:
    _, docs = overlay
    services = of_kind(docs, "Service")
    monitors = of_kind(docs, "ServiceMonitor")
    for name, deployment in of_kind(docs, "Deployment").items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}
        assert "http" in ports, f"{name}: no container port named http"
        service = services[name]
        assert _selects(service["spec"]["selector"], pod_labels)
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == "http"]
        assert port["targetPort"] in ("http", ports["http"])
        monitor = monitors[name]
        assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [
            ("http", "/metrics")
        ]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["authorization"] == {
            "type": "Bearer",
            "credentials": {"name": "msp-secrets", "key": "MSP_METRICS_TOKEN"},
        }, f"{name}: Prometheus must scrape with the metrics token"


def _consumed() -> dict[str, set[tuple[str, str]]]:
    """(consumer group, topic) of every service, from the services' own code."""

    def groups(runtime: ServiceRuntime) -> set[tuple[str, str]]:
        s = runtime.settings
        return {(s.group_id(spec.name), t.name) for spec in runtime.specs for t in spec.topics}

    return {
        "ingest": groups(IngestRuntime(IngestSettings(topic_namespace=""))),
        "incidents": groups(IncidentsRuntime(IncidentsSettings(topic_namespace=""))),
        "sla-clock": groups(SlaRuntime(SlaSettings(topic_namespace=""))),
        "billing": groups(build_billing(BillingSettings(topic_namespace=""))[1]),
        "notify": groups(NotifyRuntime(NotifySettings(topic_namespace=""))),
    }


def test_scaled_objects_follow_the_real_consumer_groups(overlay: tuple[str, Docs]) -> None:
    _, docs = overlay
    scaled = of_kind(docs, "ScaledObject")
    deployments = of_kind(docs, "Deployment")
    config = of_kind(docs, "ConfigMap")["msp-config"]["data"]
    for service, expected in _consumed().items():
        obj = scaled[service]
        assert obj["spec"]["scaleTargetRef"]["name"] in deployments
        triggers = obj["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        found = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers}
        assert found == expected, f"{service}: triggers {found} != consumed {expected}"
        for t in triggers:
            assert t["metadata"]["bootstrapServers"] == config["KAFKA_BOOTSTRAP_SERVERS"]
            assert int(t["metadata"]["lagThreshold"]) > 0


SIZING_ROW = re.compile(r"^\| `([\w.-]+)` \| `([\w.-]+)` \|.*\| (\d+) \|$", re.M)
"""A row of docs/operations.md's sizing table: | `group` | `topic` | ... | threshold |."""
DEFAULT_LAG_THRESHOLD = 100
"""What docs/operations.md gives every trigger its table does not name."""


def test_lag_thresholds_are_the_sizing_notes(overlay: tuple[str, Docs]) -> None:
    """Each trigger's lagThreshold is the one docs/operations.md derives (events/s per
    instance x the lag tolerated), or the default it names for the rest."""
    _, docs = overlay
    table = {
        (g, t): int(v)
        for g, t, v in SIZING_ROW.findall((REPO / "docs" / "operations.md").read_text())
    }
    assert table, "docs/operations.md has no sizing table"
    found = {
        (t["metadata"]["consumerGroup"], t["metadata"]["topic"]): int(t["metadata"]["lagThreshold"])
        for obj in of_kind(docs, "ScaledObject").values()
        for t in obj["spec"]["triggers"]
    }
    assert set(table) <= set(found), f"the sizing table names no trigger: {set(table) - set(found)}"
    for key, value in sorted(found.items()):
        expected = table.get(key, DEFAULT_LAG_THRESHOLD)
        assert value == expected, f"{key}: lagThreshold {value}, docs/operations.md: {expected}"


def test_max_replicas_never_exceed_partitions(overlay: tuple[str, Docs]) -> None:
    name, docs = overlay
    deployments = of_kind(docs, "Deployment")
    for service, obj in of_kind(docs, "ScaledObject").items():
        spec = obj["spec"]
        partitions = min(by_name(t["metadata"]["topic"]).partitions for t in spec["triggers"])
        # a pod may run several members of one group (sla-clock): count members, not pods
        env = {e["name"]: e.get("value") for e in _container(deployments[service]).get("env", [])}
        members = int(env.get("MSP_CONSUMERS_PER_PROCESS") or 1)
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        # the overlay's replicas are KEDA's floor too, so an apply never fights the HPA
        assert deployments[service]["spec"]["replicas"] == spec["minReplicaCount"]
        assert spec["maxReplicaCount"] * members <= partitions, (
            f"{name}/{service}: {spec['maxReplicaCount']} pods x {members} consumers > "
            f"{partitions} partitions: the extra consumers would sit idle"
        )


def test_sla_clock_members_per_pod_match_the_settings_default() -> None:
    deployment = of_kind(render("overlays/prod"), "Deployment")["sla-clock"]
    env = {e["name"]: e.get("value") for e in _container(deployment)["env"]}
    assert int(env["MSP_CONSUMERS_PER_PROCESS"]) == SlaSettings().consumers_per_process


def test_migration_job_runs_the_init_step(overlay: tuple[str, Docs]) -> None:
    _, docs = overlay
    job = of_kind(docs, "Job")["msp-migrate"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "/app/msp_init.py", "migrate"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_grafana_configmaps_ship_every_dashboard() -> None:
    docs = render(GRAFANA, load_restrictor="LoadRestrictionsNone")
    for obj in docs:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        size = sum(len(v) for v in obj["data"].values())
        assert size < 900_000, f"{label_of(obj)}: {size} bytes, ConfigMaps hold at most 1 MiB"
    configmaps = of_kind(docs, "ConfigMap")
    dashboards = configmaps["msp-grafana-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    on_disk = {p.name for p in (REPO / "deploy" / "grafana" / "dashboards").glob("*.json")}
    assert set(dashboards["data"]) == on_disk, (
        "kustomize has no globs: list every deploy/grafana/dashboards/*.json in "
        "deploy/k8s/grafana/kustomization.yaml"
    )
    for name, text in dashboards["data"].items():
        assert json.loads(text)["title"], f"{name}: not a dashboard"
    datasources = configmaps["msp-grafana-datasources"]
    assert datasources["metadata"]["labels"]["grafana_datasource"] == "1"


def _selected(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return _selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels)


def test_network_policies_deny_by_default_and_open_only_what_must_talk(
    overlay: tuple[str, Docs],
) -> None:
    _, docs = overlay
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["metadata"]["labels"]
        ingress = [p for p in policies.values() if _selected(p, pod) and "ingress" in p["spec"]]
        assert ingress, f"{name}: nothing may reach its API"
        for policy in ingress:
            for rule in policy["spec"]["ingress"]:
                assert rule.get("from"), f"{policy['metadata']['name']}: open to everyone"
                assert [p["port"] for p in rule["ports"]] == [8080]
        egress = {
            p["port"]
            for policy in policies.values()
            if _selected(policy, pod)
            for rule in policy["spec"].get("egress", [])
            for p in rule["ports"]
        }
        # notify also sends mail (SMTP 25, 465, 587) and webhooks to plain-HTTP receivers
        mail = {25, 465, 587, 80} if name == "notify" else set()
        assert egress == {53, 9092, 5432, 443} | mail, f"{name}: {egress}"
    job = of_kind(docs, "Job")["msp-migrate"]["spec"]["template"]["metadata"]["labels"]
    job_egress = {
        p["port"]
        for policy in policies.values()
        if _selected(policy, job)
        for rule in policy["spec"].get("egress", [])
        for p in rule["ports"]
    }
    assert job_egress == {53, 5432}


def test_the_apis_are_exposed_over_tls_only(overlay: tuple[str, Docs]) -> None:
    _, docs = overlay
    (ingress,) = of_kind(docs, "Ingress").values()
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] == "msp-api-tls"
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert sorted(hosts) == sorted(tls["hosts"])
    backends = {
        path["backend"]["service"]["name"]: path["backend"]["service"]["port"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {s.name: {"name": "http"} for s in SERVICES}
