"""Helpers of the deploy tests: render kustomize trees, parse Dockerfiles and
.dockerignore, validate custom resources against vendored CRD schemas. Offline and
pure: no broker, no cluster, no Docker engine."""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas"
KUSTOMIZE = REPO / ".tools" / "bin" / "kustomize"
PROMTOOL = REPO / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.31"
"""The Kubernetes version whose OpenAPI schemas (bundled by kubernetes-validate) every
core object is validated against: the oldest minor still in common support."""

CRD_FILES = {
    ("kafka.strimzi.io", "KafkaTopic"): "strimzi-kafkatopic-crd.yaml",
    ("keda.sh", "ScaledObject"): "keda-scaledobject-crd.yaml",
    ("monitoring.coreos.com", "ServiceMonitor"): "prometheus-operator-servicemonitor-crd.yaml",
}


def require_tool(path: Path) -> Path:
    if not path.exists():
        raise AssertionError(f"{path.relative_to(REPO)} is missing: run `make deploy-tools`")
    return path


@functools.cache
def render(target: str, *, load_restrictor: str | None = None) -> tuple[dict[str, Any], ...]:
    """`kustomize build` of a folder under deploy/k8s, as a tuple of objects."""
    argv = [str(require_tool(KUSTOMIZE)), "build", str(K8S / target)]
    if load_restrictor:
        argv[2:2] = ["--load-restrictor", load_restrictor]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kustomize build {target} failed:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def label_of(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# --- custom resources ---------------------------------------------------------------


@functools.cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of `kind` at `version` from the vendored CRD."""
    crd = yaml.safe_load((SCHEMAS / CRD_FILES[(group, kind)]).read_text())
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            assert v["served"], f"{group}/{version} {kind} is not served by the vendored CRD"
            schema: dict[str, Any] = v["schema"]["openAPIV3Schema"]
            return schema
    served = [v["name"] for v in crd["spec"]["versions"]]
    raise AssertionError(f"the vendored {kind} CRD serves {served}, not {version}")


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Schema errors of a custom resource, plus fields the schema does not know: the API
    server would silently prune those (structural schemas), hiding a typo."""
    group, _, version = obj["apiVersion"].partition("/")
    schema = crd_schema(group, obj["kind"], version)
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    errors += [
        f"{p}: unknown field (pruned by the API server)" for p in unknown_fields(obj, schema)
    ]
    return errors


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields") or path == "/metadata":
        return
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        for key, item in value.items():
            if key in props:
                yield from unknown_fields(item, props[key], f"{path}/{key}")
            elif not schema.get("additionalProperties"):
                yield f"{path}/{key}"
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            yield from unknown_fields(item, schema["additionalProperties"], f"{path}/{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}/{i}")


# --- Dockerfiles --------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of a CMD/ENTRYPOINT/RUN, or None in shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split("CMD", 1)[1] if "CMD" in text else ""
        text = text.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
        return parsed


@dataclass
class Stage:
    image: str
    """The FROM image with ARG defaults substituted."""
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped, global ARG
    defaults substituted into FROM (as `docker build` does without --build-arg)."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, f"{path}: a line continuation runs off the end of the file"
    defaults: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "ARG" and not stages:
            name, _, default = ins.args.partition("=")
            defaults[name.strip()] = default.strip()
        elif ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, alias))
        else:
            assert stages, f"{path}:{ins.line}: {ins.keyword} before the first FROM"
            stages[-1].instructions.append(ins)
    return stages


def copy_sources(ins: Instruction) -> list[str]:
    """Source paths of a COPY/ADD from the build context (not --from=<stage>)."""
    words = shlex.split(ins.args)
    if any(w.startswith("--from=") for w in words):
        return []
    paths = [w for w in words if not w.startswith("--")]
    return paths[:-1]


def image_is_pinned(image: str, stage_names: set[str]) -> bool:
    """A previous stage, a digest, or a tag carrying a version number (not `latest`)."""
    if image in stage_names or "@sha256:" in image:
        return True
    _, _, tag = image.rpartition(":")
    return "/" not in tag and tag != "latest" and bool(re.search(r"\d+\.\d+", tag))


# --- .dockerignore ------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


@functools.cache
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        rules.append((negate, _pattern_regex(pattern)))
    return tuple(rules)


def in_build_context(relpath: str) -> bool:
    """Whether `docker build .` sends this file (last matching rule wins; a rule on a
    folder covers everything below it)."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, regex in dockerignore_rules():
        if any(regex.match(p) for p in prefixes):
            included = negate
    return included
