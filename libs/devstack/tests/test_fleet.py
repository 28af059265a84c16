"""The Fleet the end-to-end tests run on: all four services up on a test namespace,
an ingest API key made through the ingest CLI, and one service restarted on its port."""

from pathlib import Path

import httpx
import pytest

from msp_devstack.fleet import Fleet
from msp_devstack.testing import new_namespace

pytestmark = pytest.mark.integration


def test_fleet_starts_every_service_and_restarts_one(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    ns = new_namespace()
    with Fleet(
        kafka=kafka_bootstrap, database_url=database_url, namespace=ns, data_dir=tmp_path
    ) as fleet:
        key = fleet.create_api_key(source="am", customers=["c1"])
        assert key.startswith("mspk_")
        for name in fleet.names:
            assert httpx.get(fleet.url(name) + "/readyz").status_code == 200, name
        before = fleet.url("sla-clock")
        fleet.restart("sla-clock")
        assert fleet.url("sla-clock") == before
        assert httpx.get(before + "/readyz").status_code == 200
    assert not any(fleet.running(name) for name in fleet.names)
