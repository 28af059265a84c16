"""The scheduler's "now", injected: wall time live, the stream's event time during
replay or simulation (DESIGN.md decision 5). `MSP_SCHEDULER_CLOCK` chooses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Now(Protocol):
    kind: str

    async def now(self, conn: asyncpg.Connection) -> datetime: ...


class WallClock:
    """Wall time (injectable for tests)."""

    kind = "wall"

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self.source = source or (lambda: datetime.now(UTC))

    async def now(self, conn: asyncpg.Connection) -> datetime:
        return self.source()


class EventTimeClock:
    """The max event time the consumer has seen, persisted in `event_clock` in the same
    transaction as the events, so it survives restarts and never goes backwards."""

    kind = "event_time"

    async def now(self, conn: asyncpg.Connection) -> datetime:
        value = await conn.fetchval("SELECT max_event_time FROM event_clock WHERE id = 1")
        return value if value is not None else EPOCH


async def advance_event_time(conn: asyncpg.Connection, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO event_clock (id, max_event_time) VALUES (1, $1)
           ON CONFLICT (id) DO UPDATE
           SET max_event_time = GREATEST(event_clock.max_event_time, EXCLUDED.max_event_time)""",
        at,
    )


def clock_for(kind: str) -> Now:
    return EventTimeClock() if kind == "event_time" else WallClock()
