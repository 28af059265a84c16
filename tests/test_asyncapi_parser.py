"""docs/events/asyncapi.json through the official AsyncAPI parser (npm
`@asyncapi/parser`, what the AsyncAPI CLI and Studio use): it parses, with no error
diagnostic. The parser is installed by `make deploy-tools` from tests/asyncapi/
(package.json, package-lock.json); the test skips, saying why, only when node is not
installed, and fails when node is there but the parser was not installed."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "tests" / "asyncapi"
DOCUMENT = ROOT / "docs" / "events" / "asyncapi.json"


def parse(*files: Path) -> dict[str, dict[str, Any]]:
    """{file: {parsed, diagnostics}} from tests/asyncapi/validate.mjs."""
    node = shutil.which("node")
    if node is None:
        print("SKIP reason: node is not installed; the AsyncAPI parser runs on node (CI has 20)")
        pytest.skip("node is not installed (the AsyncAPI parser needs it)")
    if not (CHECK / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("@asyncapi/parser is not installed: run `make deploy-tools`")
    run = subprocess.run(
        [node, str(CHECK / "validate.mjs"), *map(str, files)],
        cwd=CHECK,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {r["file"]: r for r in results}


def errors(result: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, d['path']))}: {d['code']}: {d['message']}"
        for d in result["diagnostics"]
        if d["severity"] == 0
    ]


def test_the_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    broken = copy.deepcopy(json.loads(DOCUMENT.read_text()))
    channel = next(iter(broken["channels"].values()))
    channel["messages"]["ghost"] = {"$ref": "#/components/messages/msp.ghost.v1"}
    broken_file = tmp_path / "broken.json"
    broken_file.write_text(json.dumps(broken))

    results = parse(DOCUMENT, broken_file)

    ours = results[str(DOCUMENT)]
    assert ours["parsed"] and errors(ours) == [], errors(ours)
    # and it can fail: a dangling message reference is an error
    assert not results[str(broken_file)]["parsed"]
    assert any("msp.ghost.v1" in e for e in errors(results[str(broken_file)]))
