"""Input ingest refuses at the edge, over HTTP (a 422 naming the field) and on raw
topics (one dead letter with the pointer), on the real broker and Postgres: event
times outside the accepted window (`msp_events.bounds`) and NUL characters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ingest_testkit import Ingest

from msp_devstack.testkit import produce, wait_for_async
from msp_events import decode, encode
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj
from msp_events.topics import DEAD_LETTER, MONITORING, RAW_MONITORING
from msp_events.types.deadletter import DeadLetterRecorded

pytestmark = pytest.mark.integration
CE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def firing(id: str, time: datetime | str) -> dict[str, object]:
    sample = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    obj = to_json_obj(sample.model_copy(update={"id": id}))
    obj["time"] = time if isinstance(time, str) else time.isoformat()
    return obj


async def test_an_event_dated_9999_is_a_422_naming_time(ingest: Ingest) -> None:
    key = await ingest.key("cust-acme")
    r = await ingest.client.post(
        "/v1/events",
        json=firing("far-1", "9999-12-31T00:00:00Z"),
        headers={"authorization": f"Bearer {key}", "content-type": CE},
    )
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/time"]
    assert "out of range" in r.json()["errors"][0]["message"]


async def test_a_week_ahead_of_the_clock_is_refused_and_the_batch_names_its_index(
    ingest: Ingest,
) -> None:
    key = await ingest.key("cust-acme")
    now = datetime.now(UTC)
    batch = [firing("ok-1", now - timedelta(days=400)), firing("ahead-1", now + timedelta(days=7))]
    r = await ingest.client.post(
        "/v1/events", json=batch, headers={"authorization": f"Bearer {key}", "content-type": BATCH}
    )
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["pointer"], e.get("index")) for e in errors] == [("/time", 1)]
    assert "past the ingest's clock" in errors[0]["message"]
    # last year's replay alone is accepted
    r = await ingest.client.post(
        "/v1/events",
        json=batch[:1],
        headers={"authorization": f"Bearer {key}", "content-type": BATCH},
    )
    assert r.status_code == 202, r.text


async def test_a_raw_event_ahead_of_the_clock_is_dead_lettered_with_its_pointer(
    ingest: Ingest,
) -> None:
    sample = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    ahead = sample.model_copy(
        update={"id": "raw-ahead", "time": datetime.now(UTC) + timedelta(days=30)}
    )
    fine = sample.model_copy(update={"id": "raw-fine"})
    await produce(ingest.bootstrap, ingest.topic(RAW_MONITORING.name), [ahead, fine])

    async def dead() -> list[DeadLetterRecorded] | None:
        letters = [decode(r.value).data for r in await ingest.read(DEAD_LETTER.name)]
        return letters or None  # type: ignore[return-value]

    (letter,) = await wait_for_async(dead, timeout=60, message="one dead letter")
    assert letter.original_value() == encode(ahead).value
    assert letter.error_pointer == "/time"
    assert "past the ingest's clock" in letter.reason

    async def canonical() -> list[str] | None:
        ids = [decode(r.value).id for r in await ingest.read(MONITORING.name)]
        return ids or None

    assert await wait_for_async(canonical, timeout=60, message="fine one re-published") == [
        "raw-fine"
    ]


async def test_a_nul_character_in_any_string_is_a_422_naming_it(ingest: Ingest) -> None:
    """Postgres cannot store U+0000: refused at the door, every such field named."""
    key = await ingest.key("cust-acme")
    obj = firing("nul-1", datetime(2026, 3, 10, tzinfo=UTC))
    obj["data"]["summary"] = "disk\u0000full"  # type: ignore[index]
    obj["data"]["labels"] = {"a/b\u0000": "x"}  # type: ignore[index]
    r = await ingest.client.post(
        "/v1/events",
        content=json.dumps([obj]).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": BATCH},
    )
    assert r.status_code == 422, r.text
    assert sorted(e["pointer"] for e in r.json()["errors"]) == [
        "/0/data/labels/a~1b\u0000",
        "/0/data/summary",
    ]
    literal = firing("nul-2", datetime(2026, 3, 10, tzinfo=UTC))
    literal["data"]["summary"] = "path C:\\u0000 is text"  # type: ignore[index]
    r = await ingest.client.post(
        "/v1/events",
        content=json.dumps(literal).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": CE},
    )
    assert r.status_code == 202, r.text


async def test_a_raw_event_with_a_nul_character_is_dead_lettered_naming_it(
    ingest: Ingest,
) -> None:
    sample = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    poisoned = sample.model_copy(
        update={"id": "raw-nul", "data": sample.data.model_copy(update={"summary": "a\u0000b"})}
    )
    await produce(ingest.bootstrap, ingest.topic(RAW_MONITORING.name), [poisoned])

    async def dead() -> list[DeadLetterRecorded] | None:
        letters = [decode(r.value).data for r in await ingest.read(DEAD_LETTER.name)]
        return letters or None  # type: ignore[return-value]

    (letter,) = await wait_for_async(dead, timeout=60, message="one dead letter")
    assert letter.error_pointer == "/data/summary"
    assert letter.original_value() == encode(poisoned).value
