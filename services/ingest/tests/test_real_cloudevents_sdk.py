"""The official CloudEvents SDK (`cloudevents` from PyPI) driving `POST /v1/events` in
each HTTP content mode: structured, binary (`ce-*` headers, the data as the body, with
the current `cloudevents.core` API and the v1-compatible one) and batch (the SDK has no
batch writer: the spec's array of its structured events). Through the fast path that
`python -m ingest` serves and through the plain FastAPI route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1.conversion import to_binary as v1_to_binary
from cloudevents.v1.http import CloudEvent as V1CloudEvent
from ingest_payloads import heartbeat_event
from ingest_testkit import Ingest
from openapi_spec_validator import validate

from ingest.runtime import create_ingest_app
from msp_events import decode
from msp_events.topics import MONITORING

pytestmark = pytest.mark.integration


def sdk_event(customer: str, i: int, **overrides: Any) -> CloudEvent:
    """A valid heartbeat as an SDK CloudEvent (our `customerid` extension included)."""
    ours = heartbeat_event(customer, i)
    attributes = {k: v for k, v in ours.items() if k not in ("data", "time")}
    attributes["time"] = datetime.fromisoformat(ours["time"])
    attributes["subject"] = f"ws-{i} (Zürich office)"  # percent-encoded in binary mode
    attributes.update(overrides)
    return CloudEvent(attributes, ours["data"])


def key_headers(key: str, message: ce_http.HTTPMessage) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **message.headers}


@pytest.fixture(params=["fast-path", "fastapi-route"])
async def client(
    request: pytest.FixtureRequest, ingest: Ingest
) -> AsyncIterator[httpx.AsyncClient]:
    """ingest as served (fast path in front), or the plain FastAPI app."""
    if request.param == "fast-path":
        yield ingest.client
        return
    transport = httpx.ASGITransport(app=create_ingest_app(ingest.runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as plain:
        yield plain


async def topic_ids(ingest: Ingest) -> list[str]:
    return [decode(r.value).id for r in await ingest.read(MONITORING.name)]


async def test_structured_mode_from_the_sdk(ingest: Ingest, client: httpx.AsyncClient) -> None:
    key = await ingest.key("cust-a")
    message = ce_http.to_structured_event(sdk_event("cust-a", 1))
    assert message.headers["content-type"] == "application/cloudevents+json"
    r = await client.post("/v1/events", content=message.body, headers=key_headers(key, message))
    assert r.status_code == 202, r.text
    assert await topic_ids(ingest) == ["hb-cust-a-1"]


async def test_binary_mode_from_the_sdk(ingest: Ingest, client: httpx.AsyncClient) -> None:
    key = await ingest.key("cust-a")
    message = ce_http.to_binary_event(sdk_event("cust-a", 2))
    assert (
        message.headers["ce-customerid"] == "cust-a" and "%C3%BC" in message.headers["ce-subject"]
    )
    r = await client.post("/v1/events", content=message.body, headers=key_headers(key, message))
    assert r.status_code == 202, r.text
    assert r.json()["published"] == ["hb-cust-a-2"]
    (record,) = await ingest.read(MONITORING.name)
    event = decode(record.value)
    assert record.key == b"cust-a" and event.customer_id == "cust-a"
    assert event.subject == "ws-2 (Zürich office)", "percent-decoded header"
    assert event.time == datetime(2026, 3, 10, 8, 2, tzinfo=UTC)
    assert event.data.device_id == "ws-2"  # type: ignore[attr-defined]


async def test_binary_mode_from_the_v1_compatible_sdk_api(
    ingest: Ingest, client: httpx.AsyncClient
) -> None:
    """`cloudevents.v1` (the 1.x `cloudevents.http` API) sends no Content-Type when the
    event has no datacontenttype: the body is JSON all the same."""
    key = await ingest.key("cust-a")
    ours = heartbeat_event("cust-a", 3)
    attributes = {k: v for k, v in ours.items() if k not in ("data", "datacontenttype")}
    headers, body = v1_to_binary(V1CloudEvent(attributes, ours["data"]))
    assert not any(h.lower() == "content-type" for h in headers)
    r = await client.post(
        "/v1/events", content=body, headers={"authorization": f"Bearer {key}", **headers}
    )
    assert r.status_code == 202, r.text
    assert await topic_ids(ingest) == ["hb-cust-a-3"]


async def test_batch_mode_of_sdk_events(ingest: Ingest, client: httpx.AsyncClient) -> None:
    key = await ingest.key("cust-a")
    body = b"[" + b",".join(JSONFormat().write(sdk_event("cust-a", i)) for i in (4, 5, 6)) + b"]"
    r = await client.post(
        "/v1/events",
        content=body,
        headers={
            "authorization": f"Bearer {key}",
            "content-type": "application/cloudevents-batch+json",
        },
    )
    assert r.status_code == 202, r.text
    assert sorted(await topic_ids(ingest)) == ["hb-cust-a-4", "hb-cust-a-5", "hb-cust-a-6"]


def binary(event: CloudEvent, drop: str = "", **headers: str) -> tuple[bytes, dict[str, str]]:
    message = ce_http.to_binary_event(event)
    sent = {k: v for k, v in message.headers.items() if k != drop}
    return message.body, {**sent, **headers}


@pytest.mark.parametrize(
    ("mutate", "status", "pointer", "says"),
    [
        (lambda e: binary(e, drop="ce-type"), 422, "/headers/ce-type", "ce-type header"),
        (lambda e: binary(e, drop="ce-customerid"), 422, "/headers/ce-customerid", "ce-customerid"),
        (lambda e: binary(e, **{"ce-time": "yesterday"}), 422, "/headers/ce-time", "ce-time"),
        (
            lambda e: binary(e, **{"ce-type": "msp.incident.opened.v1"}),
            422,
            "/headers/ce-type",
            "not accepted from outside",
        ),
        (lambda e: binary(e, **{"ce-colour": "red"}), 422, "/headers/ce-colour", "ce-colour"),
        (lambda e: binary(e, **{"ce-data": "{}"}), 422, "/headers/ce-data", "body"),
        (lambda e: binary(e, **{"ce-subject": "%FF"}), 422, "/headers/ce-subject", "UTF-8"),
        (lambda e: (b'{"device_id": "ws-1"}', binary(e)[1]), 422, "/agent", "Field required"),
        (lambda e: (b"{not json", binary(e)[1]), 422, "", "invalid JSON"),
        (lambda e: binary(e, **{"content-type": "text/plain"}), 415, "/headers/content-type", ""),
    ],
    ids=[
        "no-type",
        "no-customer",
        "bad-time",
        "not-inbound",
        "unknown-extension",
        "ce-data",
        "not-utf8",
        "bad-data",
        "not-json",
        "not-json-media-type",
    ],
)
async def test_a_bad_binary_event_names_its_header_or_data_field(
    ingest: Ingest,
    client: httpx.AsyncClient,
    mutate: Any,
    status: int,
    pointer: str,
    says: str,
) -> None:
    key = await ingest.key("cust-a")
    body, headers = mutate(sdk_event("cust-a", 7))
    r = await client.post(
        "/v1/events", content=body, headers={"authorization": f"Bearer {key}", **headers}
    )
    assert r.status_code == status, r.text
    errors = r.json()["errors"]
    assert pointer in [e["pointer"] for e in errors], errors
    assert any(says in e["message"] for e in errors if e["pointer"] == pointer), errors
    assert await topic_ids(ingest) == []


async def test_the_openapi_document_stays_valid_and_declares_binary_mode(ingest: Ingest) -> None:
    document = (await ingest.client.get("/openapi.json")).json()
    validate(document)  # openapi-spec-validator: raises on any violation
    headers = {p["name"] for p in document["paths"]["/v1/events"]["post"]["parameters"]}
    assert {"ce-id", "ce-type", "ce-source", "ce-customerid"} <= headers
    assert "/v2/enqueue" in document["paths"]
