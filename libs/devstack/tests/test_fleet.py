import asyncio
from pathlib import Path
import httpx, pytest
from msp_devstack.fleet import Fleet
from msp_devstack.testing import create_topics, new_namespace

pytestmark = pytest.mark.integration


async def test_fleet(kafka_bootstrap, database_url, tmp_path):
    ns = new_namespace()
    await create_topics(kafka_bootstrap, namespace=ns)
    fleet = Fleet(kafka=kafka_bootstrap, database_url=database_url, namespace=ns, data_dir=tmp_path)
    await asyncio.to_thread(fleet.start)
    try:
        key = fleet.create_api_key(source="am", customers=["c1"])
        assert key.startswith("mspk_")
        for n in fleet.names:
            assert httpx.get(fleet.url(n) + "/readyz").status_code == 200
        await asyncio.to_thread(fleet.restart, "sla-clock")
        assert httpx.get(fleet.url("sla-clock") + "/readyz").status_code == 200
    finally:
        await asyncio.to_thread(fleet.close)
