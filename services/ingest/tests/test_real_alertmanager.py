"""A real Alertmanager (Debian's 0.25) notifying ingest as an integrator would
configure it: a `webhook_configs` receiver with `http_config.basic_auth` (the API key
as the password), and a `pagerduty_configs` receiver whose `url` is ingest's
`/v2/enqueue` with the API key as `routing_key`. Alerts go in through Alertmanager's
own API; the canonical events must land on ingest's topic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ingest_alertmanager import Alertmanager, available
from ingest_served import served
from ingest_testkit import Ingest

from msp_devstack.testkit import wait_for_async
from msp_events import Envelope, decode
from msp_events.topics import MONITORING
from msp_events.types.monitoring import AlertFiring, AlertResolved

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(available() is not None, reason=f"{available()}"),
]

ROUTE = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"}


def alert(instance: str, *, ends: datetime | None = None, **labels: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": {
            "alertname": "NodeDown",
            "instance": instance,
            "severity": "critical",
            **labels,
        },
        "annotations": {"summary": f"{instance} is not answering scrapes"},
        "generatorURL": "http://prometheus.acme.internal:9090/graph?g0.expr=up",
        "startsAt": "2026-03-10T02:15:31Z",
    }
    if ends is not None:
        out["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return out


async def events_on_topic(ingest: Ingest, want: int, am: Alertmanager) -> list[Envelope]:
    async def read() -> list[Envelope] | None:
        events = [decode(r.value) for r in await ingest.read(MONITORING.name)]
        return events if len(events) >= want else None

    found: list[Envelope] = await wait_for_async(
        read, timeout=90, interval=0.5, message=lambda: f"{want} events; {am.log_text()}"
    )
    return found


async def test_webhook_with_basic_auth_reaches_the_canonical_topic(
    ingest: Ingest, tmp_path: Path
) -> None:
    key = await ingest.key("cust-acme", source="alertmanager-basic")
    async with served(ingest.runtime) as url:
        config = {
            "route": {"receiver": "msp", "group_by": ["instance"], **ROUTE},
            "receivers": [
                {
                    "name": "msp",
                    "webhook_configs": [
                        {
                            "url": f"{url}/v1/integrations/alertmanager",
                            "send_resolved": True,
                            "http_config": {"basic_auth": {"username": "msp", "password": key}},
                        }
                    ],
                }
            ],
        }
        with Alertmanager(config=config, data_dir=tmp_path / "am") as am:
            await asyncio.to_thread(am.post_alerts, [alert("srv-dc01:9100")])
            (fired,) = await events_on_topic(ingest, 1, am)
            ended_at = datetime.now(UTC) - timedelta(seconds=1)
            await asyncio.to_thread(am.post_alerts, [alert("srv-dc01:9100", ends=ended_at)])
            events = await events_on_topic(ingest, 2, am)
    assert isinstance(fired.data, AlertFiring)
    assert fired.customer_id == "cust-acme" and fired.data.device_id == "srv-dc01:9100"
    assert isinstance(events[-1].data, AlertResolved)
    assert events[-1].data.source_fingerprint == fired.data.source_fingerprint


async def test_pagerduty_configs_pointed_at_ingest_name_the_device(
    ingest: Ingest, tmp_path: Path
) -> None:
    key = await ingest.key("cust-acme", "cust-beta", source="alertmanager-pd")
    async with served(ingest.runtime) as url:
        config = {
            "route": {"receiver": "pd", "group_by": ["alertname", "instance"], **ROUTE},
            "receivers": [
                {
                    "name": "pd",
                    "pagerduty_configs": [
                        {"url": f"{url}/v2/enqueue", "routing_key": key, "send_resolved": True}
                    ],
                }
            ],
        }
        with Alertmanager(config=config, data_dir=tmp_path / "am") as am:
            firing = [
                alert("srv-dc01:9100", customer="cust-acme", site="site-london"),
                alert("fw-edge-01:9100", customer="cust-beta"),
            ]
            await asyncio.to_thread(am.post_alerts, firing)
            events = await events_on_topic(ingest, 2, am)
    by_device = {e.data.device_id: e for e in events}
    assert set(by_device) == {"srv-dc01:9100", "fw-edge-01:9100"}, "not one 'Alertmanager'"
    assert by_device["srv-dc01:9100"].customer_id == "cust-acme"
    assert by_device["fw-edge-01:9100"].customer_id == "cust-beta"
    assert by_device["srv-dc01:9100"].data.site_id == "site-london"
    assert {e.data.check for e in events} == {"NodeDown"}
    assert all(isinstance(e.data, AlertFiring) for e in events)
