import pytest
from conftest import Service
from factory import contract, firing, t
from msp_devstack.testkit import read_topic, wait_for_async
pytestmark = pytest.mark.integration

async def test_changelog(service: Service) -> None:
    cust = "cl-co"
    await service.contract(contract(cust))
    await service.send([firing(cust, "x", t(0))])
    await service.wait_incidents(cust, lambda xs: len(xs) == 1)
    async def has() -> int:
        try:
            return len(await read_topic(service.kafka, f"{service.ns}incidents-triage-changelog", within=5))
        except AssertionError as e:
            print(e); return 0
    print("changelog", await wait_for_async(has, timeout=30))
