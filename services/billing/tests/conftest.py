"""Billing test setup: the test folder on sys.path for `billing_factory` and
`billing_harness` (importlib import mode does not add it; the module names are unique
in the workspace)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def schema(namespace: str) -> str:
    return namespace.strip("_").lower()
