"""HTTP Basic with the API key as the password (any user name): what Alertmanager's
`http_config.basic_auth`, Grafana contact points and many RMM webhooks send. Every
route takes it, the /v1/events fast path included."""

from __future__ import annotations

import base64

import httpx
import pytest
from ingest_payloads import PAGERDUTY_TRIGGER, alertmanager_group, heartbeat_event
from ingest_testkit import Ingest

from msp_events import decode
from msp_events.topics import MONITORING

pytestmark = pytest.mark.integration


async def test_basic_auth_with_the_key_as_password_is_accepted_on_every_route(
    ingest: Ingest,
) -> None:
    key = await ingest.key("cust-acme", source="grafana")
    basic = httpx.BasicAuth("any-user-name", key)
    r = await ingest.client.post("/v1/events", json=heartbeat_event("cust-acme", 1), auth=basic)
    assert r.status_code == 202, r.text
    r = await ingest.client.post(
        "/v1/integrations/alertmanager", json=alertmanager_group(), auth=basic
    )
    assert r.status_code == 202, r.text
    pd = {k: v for k, v in PAGERDUTY_TRIGGER.items() if k != "routing_key"}
    r = await ingest.client.post("/v1/integrations/pagerduty", json=pd, auth=basic)
    assert r.status_code == 202, r.text
    events = [decode(rec.value) for rec in await ingest.read(MONITORING.name)]
    assert len(events) == 1 + 3 + 1
    assert {e.customer_id for e in events} == {"cust-acme"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"user:mspk_nope_nope").decode(),
        "Basic !!not-base64!!",
        "Basic " + "dXNlcjo=",  # "user:" : no password
    ],
)
async def test_basic_auth_without_a_valid_key_is_401_naming_the_header(
    ingest: Ingest, authorization: str
) -> None:
    r = await ingest.client.post(
        "/v1/events", json=heartbeat_event("cust-acme", 2), headers={"authorization": authorization}
    )
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["pointer"] == "/headers/authorization"
    assert await ingest.read(MONITORING.name) == []
