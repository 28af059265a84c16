"""Where the local stack keeps its files: `<repo root>/.local/` (git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_DIR_ENV = "MSP_LOCAL_DIR"


def repo_root(start: Path | None = None) -> Path:
    """The workspace root: the nearest folder at or above `start` (default: the current
    directory, then this file) that holds `uv.lock`."""
    candidates = [start] if start is not None else [Path.cwd(), Path(__file__)]
    for candidate in candidates:
        for folder in [candidate.resolve(), *candidate.resolve().parents]:
            if (folder / "uv.lock").is_file():
                return folder
    raise FileNotFoundError(
        f"cannot find the workspace root (a folder with uv.lock) above {candidates[0]}; "
        f"run from inside the repository or set {LOCAL_DIR_ENV}"
    )


def local_dir() -> Path:
    """The cache/data folder: env MSP_LOCAL_DIR, else `<repo root>/.local`."""
    configured = os.environ.get(LOCAL_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return repo_root() / ".local"
