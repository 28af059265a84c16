"""docker-compose.yml is valid without a Docker engine: JSON Schema validation against
the vendored compose-spec schema (what `docker compose config` checks first), then the
semantics the schema cannot see: references resolve, mounted files exist, ports do not
collide, every service of the system runs healthy after the one-shot init."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_manifests import PROMTOOL, REPO, SCHEMAS, require_tool

from msp_devstack.stack import SERVICES

COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
INFRA = {"kafka", "postgres"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert not errors, "docker-compose.yml violates the compose spec:\n" + "\n".join(errors)


def test_schema_check_catches_a_typo(compose: dict[str, Any]) -> None:
    # the schema forbids unknown keys: proves the check above is not vacuous
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    broken = {**compose, "services": {**compose["services"], "x": {"imagee": "busybox"}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_every_system_service_runs_with_a_healthcheck(services: dict[str, Any]) -> None:
    for service in SERVICES:
        assert service.name in services, f"{service.name} missing from docker-compose.yml"
        spec = services[service.name]
        assert spec.get("healthcheck", {}).get("test"), f"{service.name}: no healthcheck"
        assert "/healthz" in " ".join(spec["healthcheck"]["test"])
        assert spec["build"]["dockerfile"] == f"services/{service.name}/Dockerfile"
        env = spec["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert (
            env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        )
        assert env["MSP_HTTP_HOST"] == "0.0.0.0"
        assert _depends_on(spec) == {
            "kafka": "service_healthy",
            "postgres": "service_healthy",
            "init": "service_completed_successfully",
        }


def test_pepper_comes_from_the_environment_not_the_file(services: dict[str, Any]) -> None:
    for service in SERVICES:
        pepper = services[service.name]["environment"]["MSP_API_KEY_PEPPER"]
        assert re.fullmatch(r"\$\{MSP_API_KEY_PEPPER:\?[^}]+\}", pepper), (
            "MSP_API_KEY_PEPPER must be a required variable (${MSP_API_KEY_PEPPER:?...})"
        )


def test_dependencies_resolve(services: dict[str, Any]) -> None:
    for name, spec in services.items():
        for target, condition in _depends_on(spec).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy but it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", (
                    f"{target} is a one-shot and must not restart"
                )
        contexts = (
            spec.get("build", {}).get("additional_contexts", {})
            if isinstance(spec.get("build"), dict)
            else {}
        )
        for ref in contexts.values():
            if ref.startswith("service:"):
                assert ref.removeprefix("service:") in services, f"{name}: {ref} unknown"


def test_init_creates_topics_and_runs_migrations(services: dict[str, Any]) -> None:
    init = services["init"]
    assert init["command"] == ["python", "/app/msp_init.py", "all"]
    assert _depends_on(init) == {"kafka": "service_healthy", "postgres": "service_healthy"}
    # a single broker cannot hold three replicas
    assert init["environment"]["MSP_TOPIC_REPLICATION_FACTOR"] == "1"


def test_build_files_and_mounted_paths_exist(services: dict[str, Any]) -> None:
    for name, spec in services.items():
        build = spec.get("build")
        if isinstance(build, dict):
            context = REPO / build.get("context", ".")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: mounted path {source} is missing"


def test_host_ports_are_unique(services: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for name, spec in services.items():
        for port in spec.get("ports", []):
            host = str(port).rsplit(":", 1)[0]
            assert host not in seen, f"host port {host} used by {seen.get(host)} and {name}"
            seen[host] = name
    # the same ports `make run` uses, so docs and tools work against either
    for i, service in enumerate(SERVICES):
        assert services[service.name]["ports"] == [f"{8080 + i}:8080"]


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {s.name: [f"{s.name}:8080"] for s in SERVICES}


SCRAPE_TOKEN_FILE = "/run/secrets/metrics_token"


def test_prometheus_scrapes_with_the_metrics_token(services: dict[str, Any]) -> None:
    """/metrics needs the `metrics:read` permission: Prometheus sends the dedicated
    scrape token, a compose secret from MSP_METRICS_TOKEN, which the services get too."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for job in config["scrape_configs"]:
        assert job["authorization"] == {"type": "Bearer", "credentials_file": SCRAPE_TOKEN_FILE}
    assert services["prometheus"]["secrets"] == ["metrics_token"]
    for service in SERVICES:
        token = services[service.name]["environment"]["MSP_METRICS_TOKEN"]
        assert re.fullmatch(r"\$\{MSP_METRICS_TOKEN:\?[^}]+\}", token), service.name


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = require_tool(PROMTOOL)
    # promtool insists the token file exists: check a copy pointing at a stand-in
    token = tmp_path / "metrics_token"
    token.write_text("stand-in")
    checked = tmp_path / "prometheus.yml"
    checked.write_text(PROMETHEUS_CONFIG.read_text().replace(SCRAPE_TOKEN_FILE, str(token)))
    done = subprocess.run(
        [str(promtool), "check", "config", str(checked)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_is_provisioned_from_the_repo(services: dict[str, Any]) -> None:
    volumes = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert _depends_on(services["grafana"]) == {"prometheus": "service_healthy"}


def test_grafana_provisioning_points_at_the_mounts_and_prometheus(
    services: dict[str, Any],
) -> None:
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    for path in sorted((provisioning / "dashboards").glob("*.yaml")):
        for provider in yaml.safe_load(path.read_text())["providers"]:
            assert provider["options"]["path"] == "/var/lib/grafana/dashboards", path.name
    urls = [
        ds["url"]
        for path in sorted((provisioning / "datasources").glob("*.yaml"))
        for ds in yaml.safe_load(path.read_text())["datasources"]
        if ds["type"] == "prometheus"
    ]
    assert urls == ["http://prometheus:9090"]
    assert "9090:9090" in services["prometheus"]["ports"]
