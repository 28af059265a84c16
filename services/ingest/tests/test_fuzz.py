"""Property fuzz of the HTTP API, in-process but with the real broker and Postgres
behind it: random bytes, random JSON, mutated golden payloads, random content types
and keys. Whatever comes in, the answer is never 5xx and always a JSON body."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_payloads import PAGERDUTY_TRIGGER, PAGERDUTY_V1_TRIGGER, alertmanager_group
from ingest_testkit import Ingest
from ingest_testkit_events import heartbeats

from msp_events.samples import sample_events
from msp_events.serde import to_json_obj

pytestmark = pytest.mark.integration

ENDPOINTS = ["/v1/events", "/v1/integrations/alertmanager", "/v1/integrations/pagerduty"]
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
