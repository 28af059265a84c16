"""Fixtures: the namespace's access schema on the session's real Postgres."""

from __future__ import annotations

import pytest

from msp_devstack.access import prepare_access


@pytest.fixture
async def access_schema(database_url: str, namespace: str) -> str:
    return await prepare_access(database_url, namespace=namespace)
