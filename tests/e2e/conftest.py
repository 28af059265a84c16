"""The end-to-end fixture: all four services (`msp_devstack.fleet.Fleet`) on the
session's real broker and Postgres, on a topic namespace and schemas of their own, in
event-time mode (incidents and the SLA scheduler follow event time only). The test
folder goes on sys.path for `e2e_scenario` and `e2e_driver` (importlib import mode
does not add it; the module names are unique in the workspace)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from msp_devstack.fleet import Fleet
from msp_devstack.testing import new_namespace

INCIDENTS_SETTINGS = {
    # small batches, so the crash mid-storm can fall between two of them
    "MSP_CONSUMER_BATCH_SIZE": "4",
}


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    ns = new_namespace()
    with Fleet(
        kafka=kafka_bootstrap,
        database_url=database_url,
        namespace=ns,
        data_dir=tmp_path_factory.mktemp("e2e-fleet"),
        settings={"incidents": INCIDENTS_SETTINGS},
    ) as running:
        yield running
