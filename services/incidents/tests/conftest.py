"""Fixtures for the incidents tests: the whole service started in-process on the real
broker and Postgres, shared by a module's scenario tests (each test uses its own
customers). The harness itself is `incidents_harness` (a unique module name: the test
folders of several services can be collected in one run)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from incidents_harness import Service, running


@pytest.fixture(scope="module")
async def service(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Service]:
    async with running(kafka_bootstrap, database_url) as started:
        yield started
