"""The wall-clock fallback timer: every `wall_clock_tick_s` it advances every customer's
triage clock to now, so window ends, hold-downs, expiry and heartbeat silence happen
even when no event arrives for the customer. Event time stays the primary clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust

from incidents.worker import TriageWorker


def wall_clock_timer(app: faust.App, worker: TriageWorker, *, interval_s: float) -> Any:
    @app.timer(interval=interval_s, name="wall-clock")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await worker.tick(datetime.now(UTC))

    return tick
