"""Event builders shared by the ingest tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msp_events import Envelope, make_event
from msp_events.types.monitoring import Heartbeat


def heartbeats(n: int, *, customers: int = 7, prefix: str = "hb") -> list[Envelope]:
    base = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    return [
        make_event(
            Heartbeat(
                device_id=f"ws-{i}",
                agent="rmm-agent/5.9.1",
                interval_seconds=300,
                sent_at=base + timedelta(seconds=i),
            ),
            customer_id=f"cust-{i % customers}",
            source="/rmm",
            time=base + timedelta(seconds=i),
            subject=f"ws-{i}",
            id=f"{prefix}-{i}",
        )
        for i in range(n)
    ]
