"""Static checks of the images (no Docker engine here): every service Dockerfile and the
init image build FROM the shared base, install from the lock, run one process as a
non-root user, have a healthcheck, and COPY only paths the build context sends."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from deploy_manifests import (
    DEPLOY,
    REPO,
    Stage,
    copy_sources,
    image_is_pinned,
    in_build_context,
    parse_dockerfile,
)

from msp_devstack.stack import SERVICE_SCHEMAS, SERVICES, ServiceProcess

BASE = DEPLOY / "docker" / "base.Dockerfile"
INIT = DEPLOY / "docker" / "init.Dockerfile"
BASE_TAG = "msp-ops/base:0.1.0"
RUNTIME_IMAGES = [REPO / "services" / s.name / "Dockerfile" for s in SERVICES] + [INIT]
ALL_DOCKERFILES = [BASE, *RUNTIME_IMAGES]


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def _final(path: Path) -> Stage:
    return parse_dockerfile(path)[-1]


def test_every_service_has_a_dockerfile() -> None:
    missing = [p for p in RUNTIME_IMAGES if not p.exists()]
    assert not missing, f"missing Dockerfiles: {_ids(missing)}"


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=_ids(ALL_DOCKERFILES))
def test_base_images_are_pinned(path: Path) -> None:
    stages = parse_dockerfile(path)
    names: set[str] = set()
    for stage in stages:
        assert image_is_pinned(stage.image, names), (
            f"{path.name}: FROM {stage.image} is not pinned (use a version tag or digest)"
        )
        if stage.name:
            names.add(stage.name)


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=_ids(ALL_DOCKERFILES))
def test_copy_sources_exist_and_are_in_the_build_context(path: Path) -> None:
    for stage in parse_dockerfile(path):
        for ins in stage.all("COPY") + stage.all("ADD"):
            for source in copy_sources(ins):
                target = REPO / source
                assert target.exists(), f"{path.name}:{ins.line}: COPY {source}: no such path"
                files = [target] if target.is_file() else list(target.rglob("*.py"))
                sent = [f for f in files if in_build_context(str(f.relative_to(REPO)))]
                assert sent, f"{path.name}:{ins.line}: COPY {source}: .dockerignore excludes it all"


def test_build_context_leaves_out_tests_and_local_state() -> None:
    assert in_build_context("libs/events/src/msp_events/topics.py")
    assert in_build_context("services/sla-clock/src/sla_clock/migrations/0001_sla_clock.sql")
    assert in_build_context("uv.lock")
    for path in (
        "services/ingest/tests/conftest.py",
        ".venv/bin/python",
        ".local/run/logs/ingest.log",
        "libs/devstack/src/msp_devstack/stack.py",
        "services/ingest/src/ingest/__pycache__/keys.cpython-311.pyc",
    ):
        assert not in_build_context(path), f"{path} would be sent to the image builder"


@pytest.mark.parametrize("path", RUNTIME_IMAGES, ids=_ids(RUNTIME_IMAGES))
def test_runs_one_process_as_non_root(path: Path) -> None:
    final = _final(path)
    processes = final.all("CMD") + final.all("ENTRYPOINT")
    assert len(processes) == 1, f"{path.name}: want exactly one CMD/ENTRYPOINT, got {processes}"
    users = final.all("USER")
    assert users, f"{path.name}: the final stage sets no USER (it would run as root)"
    user = users[-1]
    assert user.line < processes[0].line, f"{path.name}: USER must come before CMD"
    uid = user.args.split(":")[0]
    assert uid not in ("root", "0"), f"{path.name}: USER {user.args} is root"
    argv = processes[0].exec_form()
    assert argv is not None, f"{path.name}: CMD must be exec form (signals reach python)"
    assert argv[0] == "python"


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_service_image_runs_its_package_with_a_healthcheck(service: ServiceProcess) -> None:
    path = REPO / "services" / service.name / "Dockerfile"
    package = service.package
    stages = parse_dockerfile(path)
    final = stages[-1]
    assert final.all("CMD")[0].exec_form() == ["python", "-m", package]
    health = final.all("HEALTHCHECK")
    assert len(health) == 1, f"{path}: want one HEALTHCHECK"
    probe = health[0].exec_form()
    assert probe is not None and probe[:2] == ["python", "-c"], "a python one-liner, no curl"
    assert "/healthz" in probe[2]
    env = " ".join(i.args for i in final.all("ENV"))
    port = re.search(r"MSP_HTTP_PORT=(\d+)", env)
    assert port, f"{path}: MSP_HTTP_PORT not set"
    assert "MSP_HTTP_HOST=0.0.0.0" in env, "the default 127.0.0.1 is unreachable in a container"
    assert [i.args for i in final.all("EXPOSE")] == [port[1]]


@pytest.mark.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])
def test_service_image_builds_on_the_base_from_the_lock(service: ServiceProcess) -> None:
    folder = REPO / "services" / service.name
    dist = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
    stages = parse_dockerfile(folder / "Dockerfile")
    assert stages[0].image == BASE_TAG, "the build stage starts FROM the shared base"
    syncs = [i.args for i in stages[0].all("RUN") if i.args.startswith("uv sync")]
    assert syncs == [f"uv sync --frozen --no-dev --no-editable --package {dist}"]
    # the runtime stage copies the virtualenv only: no uv, no sources, no build tools
    copies = [i.args for i in stages[-1].all("COPY")]
    assert copies == ["--from=build /app/.venv /app/.venv"]


def test_base_installs_the_shared_libraries_from_the_lock() -> None:
    (stage,) = [s for s in parse_dockerfile(BASE) if s.all("RUN")]
    sources = [src for ins in stage.all("COPY") for src in copy_sources(ins)]
    assert sorted(sources) == ["libs/events/", "libs/plumbing/", "pyproject.toml", "uv.lock"]
    runs = [i.args for i in stage.all("RUN")]
    assert runs == ["uv sync --frozen --no-dev --no-editable --package msp-plumbing"]


def test_init_image_holds_every_service_package_and_the_init_step() -> None:
    stages = parse_dockerfile(INIT)
    run = " ".join(i.args for i in stages[0].all("RUN"))
    for service in SERVICES:
        dist = tomllib.loads((REPO / "services" / service.name / "pyproject.toml").read_text())
        assert f"--package {dist['project']['name']}" in run
    assert stages[-1].all("CMD")[0].exec_form() == ["python", "/app/msp_init.py", "all"]
    # a one-shot job: an explicit NONE, not a forgotten healthcheck
    assert [i.args for i in stages[-1].all("HEALTHCHECK")] == ["NONE"]


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=_ids(ALL_DOCKERFILES))
def test_no_secrets_baked_into_images(path: Path) -> None:
    for stage in parse_dockerfile(path):
        for ins in stage.all("ENV") + stage.all("ARG"):
            assert not re.search(r"PEPPER|PASSWORD|SECRET|TOKEN|DATABASE_URL", ins.args), (
                f"{path.name}:{ins.line}: {ins.keyword} {ins.args} looks like a secret"
            )


def test_init_step_migrates_the_same_schemas_as_make_run() -> None:
    spec = importlib.util.spec_from_file_location("msp_init", DEPLOY / "docker" / "msp_init.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.SERVICE_SCHEMAS == SERVICE_SCHEMAS
