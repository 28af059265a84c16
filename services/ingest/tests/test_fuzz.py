"""Property fuzz of the HTTP API, in-process but with the real broker and Postgres
behind it: random bytes, random JSON, mutated golden payloads, random content types
and keys. Whatever comes in, the answer is never 5xx and always a JSON body."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ingest_payloads import PAGERDUTY_TRIGGER, PAGERDUTY_V1_TRIGGER, alertmanager_group
from ingest_testkit import Ingest
from ingest_testkit_events import heartbeats

from msp_events.samples import sample_events
from msp_events.serde import to_json_obj

pytestmark = pytest.mark.integration

ENDPOINTS = [
    "/v1/events",
    "/v1/integrations/alertmanager",
    "/v1/integrations/pagerduty",
    "/v2/enqueue",
]
CONTENT_TYPES = [
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
    "multipart/form-data; boundary=x",
]
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def golden() -> list[Any]:
    samples = [to_json_obj(e) for e in sample_events()[:8]]
    return [
        alertmanager_group(),
        PAGERDUTY_TRIGGER,
        PAGERDUTY_V1_TRIGGER,
        to_json_obj(heartbeats(1)[0]),
        samples,
        *samples,
    ]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += paths(v, (*prefix, i))
    return found


def replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(doc)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def header_bytes(text: str) -> bytes:
    """Any octets but CR, LF and NUL may reach the server in a header value."""
    return text.encode("utf-8").translate(None, b"\r\n\x00").strip() or b"x"


async def post(ingest: Ingest, endpoint: str, body: bytes, headers: dict[str, str | bytes]) -> None:
    r = await ingest.client.post(endpoint, content=body, headers=headers)
    assert r.status_code < 500, (endpoint, headers, body[:300], r.status_code, r.text)
    assert isinstance(r.json(), dict)


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    content_type=st.sampled_from(CONTENT_TYPES) | st.text(max_size=30),
    body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
    use_key=st.sampled_from(["valid", "none", "garbage"]),
    garbage_key=st.text(max_size=40),
)
async def test_random_requests_never_5xx(
    ingest: Ingest,
    endpoint: str,
    content_type: str,
    body: bytes,
    use_key: str,
    garbage_key: str,
) -> None:
    key = ingest.keys.get("valid") or ingest.keys.setdefault("valid", await ingest.key("cust-acme"))
    headers: dict[str, str | bytes] = {"content-type": header_bytes(content_type)}
    if use_key == "valid":
        headers["authorization"] = f"Bearer {key}"
    elif use_key == "garbage":
        headers["x-api-key"] = header_bytes(garbage_key)
    await post(ingest, endpoint, body, headers)


@FUZZ
@given(data=st.data(), endpoint=st.sampled_from(ENDPOINTS), value=json_values)
async def test_mutated_golden_payloads_never_5xx(
    ingest: Ingest, data: st.DataObject, endpoint: str, value: Any
) -> None:
    key = ingest.keys.get("valid") or ingest.keys.setdefault(
        "valid", await ingest.key("cust-acme", "cust-0")
    )
    doc = data.draw(st.sampled_from(golden()))
    path = data.draw(st.sampled_from(paths(doc)))
    mutated = replace(doc, path, value) if data.draw(st.booleans()) else doc
    if isinstance(mutated, dict) and "routing_key" in mutated:
        mutated["routing_key"] = key
    content_type = (
        "application/cloudevents-batch+json" if isinstance(mutated, list) else "application/json"
    )
    headers: dict[str, str | bytes] = {
        "content-type": content_type,
        "authorization": f"Bearer {key}",
    }
    await post(ingest, endpoint, json.dumps(mutated).encode(), headers)


def binary_heartbeat() -> tuple[dict[str, str], Any]:
    """A valid binary-mode request's `ce-*` headers and JSON data (CloudEvents HTTP
    binding: attributes as headers, percent-encoded, the data as the body)."""
    from urllib.parse import quote

    event = to_json_obj(heartbeats(1)[0])
    headers = {f"ce-{k}": quote(str(v), safe="") for k, v in event.items() if k not in ("data",)}
    headers.pop("ce-datacontenttype")
    return headers, event["data"]


@FUZZ
@given(
    data=st.data(),
    drop=st.lists(st.sampled_from(sorted(binary_heartbeat()[0])), max_size=3),
    extra=st.dictionaries(
        st.from_regex(r"ce-[a-z0-9_-]{0,12}", fullmatch=True), st.text(max_size=30), max_size=3
    ),
    content_type=st.sampled_from(["application/json", "", "text/plain"]) | st.text(max_size=20),
    value=json_values,
    raw_body=st.none() | st.binary(max_size=200),
)
async def test_binary_mode_headers_and_bodies_never_5xx(
    ingest: Ingest,
    data: st.DataObject,
    drop: list[str],
    extra: dict[str, str],
    content_type: str,
    value: Any,
    raw_body: bytes | None,
) -> None:
    """Binary content mode (`ce-*` headers): headers dropped, replaced by random text
    or octets, unknown ones added, the body mutated. Never 5xx; a 422 names a header
    (`/headers/ce-...`) or a pointer into the body."""
    key = ingest.keys.get("binary") or ingest.keys.setdefault("binary", await ingest.key("cust-0"))
    ce_headers, body_doc = binary_heartbeat()
    for name in drop:
        ce_headers.pop(name, None)
    headers: dict[str, str | bytes] = {**ce_headers}
    for name, text in extra.items():
        headers[name] = header_bytes(text)
    if data.draw(st.booleans()):
        path = data.draw(st.sampled_from(paths(body_doc)))
        body_doc = replace(body_doc, path, value)
    body = raw_body if raw_body is not None else json.dumps(body_doc).encode()
    if content_type:
        headers["content-type"] = header_bytes(content_type)
    headers["authorization"] = f"Bearer {key}"
    r = await ingest.client.post("/v1/events", content=body, headers=headers)
    assert r.status_code < 500, (headers, body[:300], r.status_code, r.text)
    answer = r.json()
    assert isinstance(answer, dict)
    event(f"HTTP {r.status_code}")
    if r.status_code == 422:
        assert answer["errors"], answer
