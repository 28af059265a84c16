"""Building a dead letter (pure): original bytes kept, time from the record, clamped
into the contract's window whatever the producer stamped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from msp_events import decode
from msp_events.bounds import EARLIEST, LATEST
from msp_events.types.deadletter import DeadLetterRecorded
from msp_plumbing.consumer import DeadLetters


@dataclass
class FakeRecord:  # the fields of aiokafka's ConsumerRecord a dead letter reads
    timestamp: int
    topic: str = "t.msp.tickets.v1"
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"cust-1"
    value: bytes | None = b"\x00not json"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.mark.parametrize(
    ("timestamp_ms", "expected"),
    [
        (0, EARLIEST),  # 1970: a producer that stamped nothing useful
        (1_772_000_000_000, None),  # 2026: kept as is
        (10**13 * 4, None),  # beyond 2100: clamped below LATEST
    ],
)
def test_a_dead_letter_keeps_the_bytes_and_a_time_inside_the_window(
    timestamp_ms: int, expected: object
) -> None:
    letters = DeadLetters("g", "svc", "t.msp.deadletter.v1")
    out = letters.build(FakeRecord(timestamp_ms), "invalid event: /: nope", "/")  # type: ignore[arg-type]
    event = decode(out.value)
    assert isinstance(event.data, DeadLetterRecorded)
    assert event.data.original_value() == b"\x00not json"
    assert out.key == b"cust-1" and out.topic == "t.msp.deadletter.v1"
    assert EARLIEST <= event.time < LATEST
    if expected is not None:
        assert event.time == expected
