"""The test folders of every package can be collected in one pytest run (`make test`,
or any two of them: `pytest services/ingest/tests services/incidents/tests`). Each
conftest puts its folder on sys.path for its helper modules, so a helper's name must
be unique across the workspace, and no module may import `conftest` by name (which
conftest that finds depends on the folders' order)."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracked_test_modules() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*tests/*.py", "tests/*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / p for p in listed if (ROOT / p).exists()]


def test_helper_modules_of_test_folders_have_unique_names() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in tracked_test_modules():
        if path.name != "conftest.py" and not path.name.startswith("test_"):
            where[path.stem].append(str(path.relative_to(ROOT)))
    clashes = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not clashes, f"helper modules of test folders share a name: {clashes}"


def test_no_module_imports_conftest_by_name() -> None:
    importing = [
        str(path.relative_to(ROOT))
        for path in tracked_test_modules()
        if re.search(r"^\s*(from conftest import|import conftest\b)", path.read_text(), re.M)
    ]
    assert not importing, f"import helpers from a uniquely named module instead: {importing}"
