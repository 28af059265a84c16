"""The HTTP API on the real broker and Postgres: what is accepted lands on the canonical
topic exactly once; what is refused publishes nothing and says why."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from ingest_payloads import PAGERDUTY_TRIGGER, PAGERDUTY_V1_TRIGGER, alertmanager_group, with_key
from ingest_testkit import Ingest

from ingest.service import INBOUND_TYPES
from msp_devstack.access import metrics_headers
from msp_devstack.testkit import wait_for_async
from msp_events import decode, make_event
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj
from msp_events.topics import MONITORING, TICKETS, topic_for
from msp_events.types.monitoring import Heartbeat

pytestmark = pytest.mark.integration

BATCH = {"content-type": "application/cloudevents-batch+json"}
SINGLE = {"content-type": "application/cloudevents+json"}


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


def heartbeat(customer: str, i: int = 0, *, id: str | None = None) -> dict[str, Any]:
    from datetime import UTC, datetime

    sent = datetime(2026, 3, 10, 8, i % 60, tzinfo=UTC)
    event = make_event(
        Heartbeat(device_id=f"ws-{i}", agent="rmm/5.9", interval_seconds=300, sent_at=sent),
        customer_id=customer,
        source="/rmm",
        time=sent,
        id=id or f"hb-{customer}-{i}",
    )
    return to_json_obj(event)


async def test_alertmanager_group_of_two_firing_one_resolved_yields_three_events(
    ingest: Ingest,
) -> None:
    key = await ingest.key("cust-acme", source="alertmanager-prod")
    body = alertmanager_group()
    r = await ingest.client.post("/v1/integrations/alertmanager", json=body, headers=auth(key))
    assert r.status_code == 202, r.text
    assert len(r.json()["ids"]) == 3

    records = await ingest.read(MONITORING.name)
    events = [decode(r.value) for r in records]
    assert len(events) == 3
    by_fp = {e.data.source_fingerprint: e for e in events}  # type: ignore[attr-defined]
    expected = {a["fingerprint"]: a["status"] for a in body["alerts"]}
    assert set(by_fp) == set(expected), "the source fingerprints are kept verbatim"
    for fp, status in expected.items():
        kind = "alert_firing" if status == "firing" else "alert_resolved"
        assert by_fp[fp].type == f"msp.monitoring.{kind}.v1"
    assert sorted(e.id for e in events) == sorted(r.json()["ids"])
    assert all(rec.key == b"cust-acme" for rec in records)


async def test_key_for_customer_a_cannot_publish_for_customer_b(ingest: Ingest) -> None:
    key_a = await ingest.key("cust-a")
    batch = [heartbeat("cust-a", 1), heartbeat("cust-b", 2)]
    r = await ingest.client.post("/v1/events", json=batch, headers=auth(key_a, **BATCH))
    assert r.status_code == 403, r.text
    assert r.json()["errors"] == [
        {"pointer": "/customerid", "message": r.json()["errors"][0]["message"], "index": 1}
    ]
    am = alertmanager_group(customer="cust-b")
    r = await ingest.client.post("/v1/integrations/alertmanager", json=am, headers=auth(key_a))
    assert r.status_code == 403, r.text
    # control: the same key may post for A, and only that reaches the topic
    r = await ingest.client.post("/v1/events", json=heartbeat("cust-a", 3), headers=auth(key_a))
    assert r.status_code == 202, r.text
    records = await ingest.read(MONITORING.name)
    assert [decode(rec.value).id for rec in records] == ["hb-cust-a-3"]


async def test_no_key_wrong_key_and_revoked_key_get_401(ingest: Ingest) -> None:
    from msp_access.apikeys import list_keys, revoke_key

    event = heartbeat("cust-a")
    r = await ingest.client.post("/v1/events", json=event)
    assert r.status_code == 401 and r.json()["errors"][0]["pointer"] == "/headers/authorization"
    r = await ingest.client.post("/v1/events", json=event, headers=auth("mspk_nope_nope"))
    assert r.status_code == 401
    key = await ingest.key("cust-a")
    r = await ingest.client.post("/v1/events", json=event, headers={"x-api-key": key})
    assert r.status_code == 202
    (stored,) = await list_keys(ingest.db, schema=ingest.access_schema)
    assert key not in json.dumps(stored.__dict__, default=str), "only a hash is stored"
    assert await revoke_key(ingest.db, schema=ingest.access_schema, key_id=stored.key_id)
    r = await ingest.client.post("/v1/events", json=event, headers=auth(key))
    assert r.status_code == 401


async def test_repost_of_an_accepted_id_is_202_and_not_published_again(ingest: Ingest) -> None:
    key = await ingest.key("cust-a")
    event = heartbeat("cust-a", 7, id="hb-once")
    first = await ingest.client.post("/v1/events", json=event, headers=auth(key, **SINGLE))
    assert first.status_code == 202 and first.json()["published"] == ["hb-once"]
    again = await ingest.client.post("/v1/events", json=event, headers=auth(key, **SINGLE))
    assert again.status_code == 202
    assert again.json()["duplicates"] == ["hb-once"] and again.json()["published"] == []
    batch = [event, heartbeat("cust-a", 8), heartbeat("cust-a", 8)]
    r = await ingest.client.post("/v1/events", json=batch, headers=auth(key, **BATCH))
    assert r.status_code == 202 and r.json()["published"] == ["hb-cust-a-8"]
    am_key = await ingest.key("cust-acme")
    for _ in range(2):  # Alertmanager re-sends the same notification: same ids
        r = await ingest.client.post(
            "/v1/integrations/alertmanager", json=alertmanager_group(), headers=auth(am_key)
        )
        assert r.status_code == 202
    ids = Counter(decode(rec.value).id for rec in await ingest.read(MONITORING.name))
    assert ids["hb-once"] == 1 and ids["hb-cust-a-8"] == 1
    assert len(ids) == 5 and max(ids.values()) == 1


async def test_every_inbound_event_type_lands_on_its_canonical_topic(ingest: Ingest) -> None:
    samples = [e for e in sample_events() if e.type in INBOUND_TYPES]
    assert {e.type for e in samples} == INBOUND_TYPES
    key = await ingest.key(*{e.customer_id for e in samples})
    body = [to_json_obj(e) for e in samples]
    r = await ingest.client.post("/v1/events", json=body, headers=auth(key, **BATCH))
    assert r.status_code == 202, r.text
    for name in {topic_for(e.type).name for e in samples}:
        got = {decode(rec.value).id for rec in await ingest.read(name)}
        assert got == {e.id for e in samples if topic_for(e.type).name == name}


async def test_bad_input_is_4xx_naming_the_field_and_publishes_nothing(ingest: Ingest) -> None:
    key = await ingest.key("cust-a")
    good = heartbeat("cust-a", 1)
    bad_priority = heartbeat("cust-a", 2)
    bad_priority["data"]["interval_seconds"] = -5
    incident = next(to_json_obj(e) for e in sample_events() if e.type.startswith("msp.incident"))
    incident["customerid"] = "cust-a"
    r = await ingest.client.post(
        "/v1/events", json=[good, bad_priority, "nope", incident], headers=auth(key, **BATCH)
    )
    assert r.status_code == 422, r.text
    errors = {(e["index"], e["pointer"]) for e in r.json()["errors"]}
    assert (1, "/1/data/interval_seconds") in errors
    assert (2, "/2") in errors
    assert (3, "/3/type") in errors
    assert all(e["index"] != 0 for e in r.json()["errors"])

    r = await ingest.client.post("/v1/events", content=b"{nope", headers=auth(key, **SINGLE))
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == ""
    r = await ingest.client.post(
        "/v1/events", json=good, headers=auth(key, **{"content-type": "text/plain"})
    )
    assert r.status_code == 415
    big = b"[" + b" " * (ingest.runtime.settings.max_body_bytes + 1) + b"]"
    r = await ingest.client.post("/v1/events", content=big, headers=auth(key, **BATCH))
    assert r.status_code == 413
    r = await ingest.client.post("/v1/events", content=b"[" * 100_000, headers=auth(key, **BATCH))
    assert r.status_code == 422
    assert await ingest.read(MONITORING.name) == []


async def test_rate_limit_answers_429_with_retry_after(ingest: Ingest) -> None:
    from msp_access.ratelimit import TokenBuckets

    assert ingest.runtime.intake is not None
    ingest.runtime.intake.buckets = TokenBuckets(rate=0.01, burst=2)
    key = await ingest.key("cust-a")
    statuses = []
    for i in range(3):
        r = await ingest.client.post("/v1/events", json=heartbeat("cust-a", i), headers=auth(key))
        statuses.append(r.status_code)
    assert statuses == [202, 202, 429]
    assert int(r.headers["retry-after"]) >= 1
    body = with_key(PAGERDUTY_TRIGGER, key)
    r = await ingest.client.post("/v1/integrations/pagerduty", json=body)
    assert r.status_code == 429 and r.json()["status"] == "throttle event"


async def test_pagerduty_endpoint_answers_like_pagerduty(ingest: Ingest) -> None:
    key = await ingest.key("cust-acme", source="pd-tool")
    r = await ingest.client.post(
        "/v1/integrations/pagerduty", json=with_key(PAGERDUTY_TRIGGER, key)
    )
    assert r.status_code == 202, r.text
    assert r.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    r = await ingest.client.post(
        "/v1/integrations/pagerduty", json=with_key(PAGERDUTY_V1_TRIGGER, key)
    )
    assert r.status_code == 202 and r.json()["incident_key"] == "srv01/HTTP"
    bad = with_key(PAGERDUTY_TRIGGER, key)
    bad["payload"] = {"summary": "", "source": "x", "severity": "fatal"}
    r = await ingest.client.post("/v1/integrations/pagerduty", json=bad)
    assert r.status_code == 400
    assert r.json()["status"] == "invalid event"
    assert any(e.startswith("/payload/severity") for e in r.json()["errors"])
    r = await ingest.client.post(
        "/v1/integrations/pagerduty", json=with_key(PAGERDUTY_TRIGGER, "wrong")
    )
    assert r.status_code == 401
    events = [decode(rec.value) for rec in await ingest.read(MONITORING.name)]
    assert sorted(e.data.source_fingerprint for e in events) == ["samplekeyhere", "srv01/HTTP"]  # type: ignore[attr-defined]


async def test_ops_endpoints_and_metrics(ingest: Ingest) -> None:
    assert (await ingest.client.get("/healthz")).status_code == 200
    ready = await ingest.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["kafka"] == "ok"
    key = await ingest.key("cust-a", source="metrics-test")
    await ingest.client.post("/v1/events", json=heartbeat("cust-a"), headers=auth(key))
    await ingest.client.post("/v1/events", json={"x": 1}, headers=auth(key))
    invalid = heartbeat("cust-a", 2)
    invalid["data"]["agent"] = ""
    await ingest.client.post("/v1/events", json=invalid, headers=auth(key))
    text = (await ingest.client.get("/metrics", headers=metrics_headers())).text
    assert (
        'msp_ingest_events_accepted_total{endpoint="events",source="metrics-test",'
        'type="msp.monitoring.heartbeat.v1"} 1.0' in text
    )
    assert (
        'msp_ingest_requests_rejected_total{endpoint="events",reason="invalid",source="metrics-test"}'
        in text
    )
    assert (
        "msp_ingest_request_seconds_bucket" in text and "msp_ingest_produce_seconds_bucket" in text
    )
    openapi = (await ingest.client.get("/openapi.json")).json()
    assert "/v1/integrations/alertmanager" in openapi["paths"]
    _ = TICKETS


async def test_tickets_reach_tickets_topic_keyed_by_customer(ingest: Ingest) -> None:
    ticket = next(to_json_obj(e) for e in sample_events() if e.type == "msp.ticket.created.v1")
    key = await ingest.key(ticket["customerid"])
    r = await ingest.client.post("/v1/events", json=ticket, headers=auth(key))
    assert r.status_code == 202
    records = await wait_for_async(
        lambda: ingest.read(TICKETS.name), timeout=30, message="ticket on the tickets topic"
    )
    assert [rec.key for rec in records] == [ticket["customerid"].encode()]


async def test_concurrent_reposts_publish_one_copy(ingest: Ingest) -> None:
    import asyncio

    key = await ingest.key("cust-a")
    event = heartbeat("cust-a", 9, id="hb-race")
    posts = [ingest.client.post("/v1/events", json=event, headers=auth(key)) for _ in range(15)] + [
        ingest.client.post("/v1/events", json=[event, heartbeat("cust-a", 10)], headers=auth(key))
        for _ in range(5)
    ]
    answers = await asyncio.gather(*posts)
    assert [r.status_code for r in answers] == [202] * 20
    published = [i for r in answers for i in r.json()["published"]]
    assert sorted(published) == ["hb-cust-a-10", "hb-race"]
    ids = Counter(decode(rec.value).id for rec in await ingest.read(MONITORING.name))
    assert ids == Counter({"hb-race": 1, "hb-cust-a-10": 1})


async def test_kafka_failure_is_503_and_the_retry_is_published(ingest: Ingest) -> None:
    intake = ingest.runtime.intake
    assert intake is not None
    key = await ingest.key("cust-a")
    event = heartbeat("cust-a", 11, id="hb-retry")
    claims = intake.claims
    claims.namespace, claims.produce_timeout_s = "no_such_topics_", 1.0  # real broker refuses
    r = await ingest.client.post("/v1/events", json=event, headers=auth(key))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    claims.namespace, claims.produce_timeout_s = ingest.namespace, 15.0
    r = await ingest.client.post("/v1/events", json=event, headers=auth(key))
    assert r.status_code == 202 and r.json()["published"] == ["hb-retry"], r.text
    records = await ingest.read(MONITORING.name)
    assert [decode(rec.value).id for rec in records] == ["hb-retry"]


async def test_fast_path_answers_exactly_like_the_fastapi_route(ingest: Ingest) -> None:
    """`python -m ingest` serves POST /v1/events through `fastpath.EventsFastPath`; the
    FastAPI route (same `views.events_outcome`) must give the same answers."""
    import httpx

    from ingest.runtime import create_ingest_app

    route = httpx.ASGITransport(app=create_ingest_app(ingest.runtime))
    async with httpx.AsyncClient(transport=route, base_url="http://ingest") as plain:
        key = await ingest.key("cust-a")
        bad = heartbeat("cust-a", 31)
        bad["data"]["interval_seconds"] = -1
        cases: list[tuple[bytes, dict[str, str]]] = [
            (json.dumps(heartbeat("cust-a", 30)).encode(), auth(key, **SINGLE)),
            (json.dumps(bad).encode(), auth(key, **SINGLE)),
            (json.dumps(heartbeat("cust-b", 32)).encode(), auth(key, **SINGLE)),
            (b"{nope", auth(key, **SINGLE)),
            (b"{}", {**SINGLE, "x-api-key": "mspk_wrong"}),
        ]
        for body, headers in cases:
            fast = await ingest.client.post("/v1/events", content=body, headers=headers)
            slow = await plain.post("/v1/events", content=body, headers=headers)
            assert fast.status_code == slow.status_code, (fast.text, slow.text)
            fast_body, slow_body = fast.json(), slow.json()
            if fast.status_code == 202:  # the second post is a re-post of the same id
                assert fast_body["published"] == slow_body["duplicates"] == fast_body["ids"]
            else:
                assert fast_body == slow_body
            assert fast.headers["content-type"] == slow.headers["content-type"]
    ids = [decode(rec.value).id for rec in await ingest.read(MONITORING.name)]
    assert ids == ["hb-cust-a-30"]
