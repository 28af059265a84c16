"""The PagerDuty client libraries from PyPI, as an integrator uses them, with their base
URL pointed at ingest: `pagerduty.EventsApiV2Client` (which insists on https) and
`pdpyras.EventsAPISession` post to `<base>/v2/enqueue` with the API key as
`routing_key`. Trigger, acknowledge, resolve; the canonical events on the topic."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pagerduty
import pytest
from ingest_served import self_signed, served
from ingest_testkit import Ingest

from msp_devstack.testkit import wait_for_async
from msp_events import Envelope, decode
from msp_events.topics import MONITORING
from msp_events.types.monitoring import AlertFiring, AlertResolved

pytestmark = pytest.mark.integration


@pytest.fixture
async def https_ingest(ingest: Ingest, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    async with served(ingest.runtime, tls=(cert, key)) as url:
        yield url, cert


async def monitoring_events(ingest: Ingest, count: int) -> list[Envelope]:
    async def read() -> list[Envelope] | None:
        events = [decode(r.value) for r in await ingest.read(MONITORING.name)]
        return events if len(events) >= count else None

    found = await wait_for_async(read, timeout=60, message=f"{count} events on the topic")
    return found


async def test_pagerduty_events_api_v2_client_trigger_acknowledge_resolve(
    ingest: Ingest, https_ingest: tuple[str, Path]
) -> None:
    url, cert = https_ingest
    key = await ingest.key("cust-acme", source="pagerduty-lib")
    client = pagerduty.EventsApiV2Client(
        key, base_url=url, verify=ssl.create_default_context(cafile=cert)
    )

    def story() -> tuple[str, str, str]:
        dedup = client.trigger(
            "Disk C: on srv-dc01 is 97% full",
            "srv-dc01",
            severity="critical",
            custom_details={"site": "site-london", "check_kind": "disk_space"},
        )
        return dedup, client.acknowledge(dedup), client.resolve(dedup)

    dedup, acked, resolved = await asyncio.to_thread(story)
    assert dedup and acked == dedup and resolved == dedup, "the library read our dedup_key"
    fired, ended = await monitoring_events(ingest, 2)
    assert isinstance(fired.data, AlertFiring) and isinstance(ended.data, AlertResolved)
    assert fired.customer_id == ended.customer_id == "cust-acme"
    assert fired.data.source_fingerprint == ended.data.source_fingerprint == dedup
    assert fired.data.device_id == "srv-dc01" and fired.data.severity == "critical"
    assert fired.data.site_id == "site-london" and fired.data.check_kind == "disk_space"


async def test_pdpyras_events_api_session_trigger_with_own_dedup_key_and_resolve(
    ingest: Ingest,
) -> None:
    """pdpyras (deprecated by PagerDuty in favour of `pagerduty`, still widely used)
    takes a plain-http base URL."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", 'The package "pdpyras" is deprecated')
        import pdpyras
    key = await ingest.key("cust-acme", source="pdpyras")
    session = pdpyras.EventsAPISession(key)

    def story() -> list[str]:
        with session:
            return [
                session.trigger("VPN tunnel down", "fw-edge-01", dedup_key="fw-edge-01/vpn"),
                session.acknowledge("fw-edge-01/vpn"),
                session.resolve("fw-edge-01/vpn"),
            ]

    async with served(ingest.runtime) as url:
        session.url = url
        assert await asyncio.to_thread(story) == ["fw-edge-01/vpn"] * 3
    fired, ended = await monitoring_events(ingest, 2)
    assert [type(e.data) for e in (fired, ended)] == [AlertFiring, AlertResolved]
    assert {e.data.source_fingerprint for e in (fired, ended)} == {"fw-edge-01/vpn"}
    assert fired.data.device_id == "fw-edge-01" and fired.data.severity == "critical"


async def test_a_wrong_routing_key_is_refused_like_pagerduty_does(
    ingest: Ingest, https_ingest: tuple[str, Path]
) -> None:
    url, cert = https_ingest
    client = pagerduty.EventsApiV2Client(
        "mspk_nope_nope", base_url=url, verify=ssl.create_default_context(cafile=cert)
    )
    with pytest.raises(pagerduty.HttpError) as err:
        await asyncio.to_thread(client.trigger, "x", "srv-dc01")
    assert err.value.response.status_code == 401
    assert await ingest.read(MONITORING.name) == []
