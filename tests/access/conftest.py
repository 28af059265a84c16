"""Fixtures of the access tests (helpers: `access_fleet`, `access_issuer`,
`access_month`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from access_issuer import TestIssuer, serving

from msp_devstack.processes import free_port


@pytest.fixture(scope="module")
def route_issuer() -> Iterator[TestIssuer]:
    with serving(free_port()) as issuer:
        yield issuer
