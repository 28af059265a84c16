"""The Kafka-native path on the real broker: raw topics -> canonical topic (same id)
or the dead-letter topic (original bytes, where it came from, the reason)."""

from __future__ import annotations

import pytest
from ingest_testkit import Ingest

from msp_devstack.testkit import produce, wait_for_async
from msp_events import decode, encode
from msp_events.samples import sample_events
from msp_events.topics import (
    CONTRACTS,
    DEAD_LETTER,
    MONITORING,
    RAW_CONTRACTS,
    RAW_MONITORING,
)
from msp_events.types.deadletter import DeadLetterRecorded

pytestmark = pytest.mark.integration


async def test_raw_valid_invalid_and_garbage(ingest: Ingest) -> None:
    samples = {e.type: e for e in sample_events()}
    firing = samples["msp.monitoring.alert_firing.v1"]
    resolved = samples["msp.monitoring.alert_resolved.v1"]
    contract = samples["msp.contract.snapshot.v1"]
    incident = samples["msp.incident.opened.v1"]  # not ours to take from outside
    raw_monitoring = ingest.topic(RAW_MONITORING.name)
    invalid = encode(firing).value.replace(b'"severity":"major"', b'"severity":"apocalyptic"')
    garbage = b"\x00\xffnot json at all"
    await produce(
        ingest.bootstrap,
        raw_monitoring,
        [firing],
        raw=[(b"cust-acme", garbage), (b"cust-acme", invalid)],
    )
    await produce(ingest.bootstrap, raw_monitoring, [incident, resolved, firing])  # firing again
    await produce(ingest.bootstrap, ingest.topic(RAW_CONTRACTS.name), [contract])

    async def canonical() -> list[str] | None:
        ids = [decode(r.value).id for r in await ingest.read(MONITORING.name)]
        return ids if len(ids) >= 2 else None

    ids = await wait_for_async(canonical, timeout=60, message="valid raw events re-published")
    assert sorted(ids) == sorted([firing.id, resolved.id]), "same ids, and the replay once"
    records = await ingest.read(MONITORING.name)
    republished = decode(records[0].value)
    assert republished.traceparent is not None, "a raw event without context starts a trace"
    unchanged = republished.model_copy(update={"traceparent": None})
    assert unchanged in (firing, resolved)  # otherwise unchanged content

    async def dead() -> list[DeadLetterRecorded] | None:
        letters = [decode(r.value).data for r in await ingest.read(DEAD_LETTER.name)]
        return letters if len(letters) >= 3 else None  # type: ignore[return-value]

    letters = await wait_for_async(dead, timeout=60, message="three dead letters")
    by_value = {letter.original_value(): letter for letter in letters}
    assert set(by_value) == {garbage, invalid, encode(incident).value}
    assert all(letter.original_topic == raw_monitoring for letter in letters)
    assert by_value[invalid].error_pointer == "/data/severity"
    assert "invalid event" in by_value[garbage].reason
    assert "may not be published on a raw topic" in by_value[encode(incident).value].reason
    offsets = sorted(letter.original_offset for letter in letters)
    assert len(set(offsets)) == 3

    contracts = await wait_for_async(
        lambda: ingest.read(CONTRACTS.name), timeout=60, message="contract re-published"
    )
    assert [decode(r.value).id for r in contracts] == [contract.id]
