"""The docs stand on their own: every relative link or path in the project's Markdown
(README.md, docs/, every package README, deploy/) stays inside the repository and
points at a file or folder that exists. A clone of this repository is all a reader
has; `../shared/...` or a link to a moved file is a dead end for them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""A Markdown inline link or image: `[text](target "title")`."""
PARENT_PATH = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.@+-][\w./@+-]*)")
"""A relative path that climbs (`../x/y`), written anywhere: in a link, in
backticks or in plain text."""
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)
"""http:, https:, mailto:, protocol-relative and in-page anchors: not files."""


def markdown_files() -> list[Path]:
    found = {ROOT / "README.md"}
    found.update((ROOT / "docs").rglob("*.md"))
    found.update((ROOT / "deploy").rglob("*.md"))
    for group in ("libs", "services", "tools"):
        found.update((ROOT / group).glob("*/README.md"))
    return sorted(p for p in found if p.is_file())


def problems(path: Path, text: str) -> list[str]:
    """What is wrong with the relative links and paths of one Markdown file."""
    out = []
    here = path.parent
    for match in LINK.finditer(text):
        target = match.group(1)
        if EXTERNAL.match(target):
            continue
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        if not file_part:
            continue
        base = ROOT if file_part.startswith("/") else here
        resolved = (base / file_part.lstrip("/")).resolve()
        if not resolved.is_relative_to(ROOT):
            out.append(f"link {target!r} leaves the repository")
        elif not resolved.exists():
            out.append(f"link {target!r} points at a missing file")
    for match in PARENT_PATH.finditer(text):
        written = match.group(1).rstrip(".,;:")
        resolved = (here / written).resolve()
        if not resolved.is_relative_to(ROOT):
            out.append(f"path {written!r} leaves the repository")
        elif not resolved.exists():
            out.append(f"path {written!r} points at a missing file")
    return out


def test_the_scan_covers_the_package_readmes() -> None:
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "docs/design.md", "services/ingest/README.md"} <= names
    assert "deploy/grafana/README.md" in names


def test_the_scan_finds_what_leaves_or_is_missing() -> None:
    doc = ROOT / "docs" / "x.md"
    text = (
        "See `../shared/DESIGN.md`, [brief](../../shared/DESIGN.md), "
        "[gone](missing.md), [ok](design.md#the-problem), [web](https://example.org), "
        "[svc](../services/ingest/README.md), [top](/README.md)."
    )
    assert problems(doc, text) == [
        "link '../../shared/DESIGN.md' leaves the repository",
        "link 'missing.md' points at a missing file",
        "path '../shared/DESIGN.md' points at a missing file",
        "path '../../shared/DESIGN.md' leaves the repository",
    ]
    assert problems(ROOT / "README.md", "the brief is in `../shared/DESIGN.md`") == [
        "path '../shared/DESIGN.md' leaves the repository"
    ]
    assert problems(doc, "in `../shared/DESIGN.md`") == [
        "path '../shared/DESIGN.md' points at a missing file"
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository_and_exist(path: Path) -> None:
    found = problems(path, path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found)
