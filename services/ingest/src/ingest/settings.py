"""IngestSettings: the one settings class of the ingest service (env `MSP_*`), built at
start-up by `ingest.__main__`, never at import."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AwareDatetime, Field

from msp_events.bounds import DEFAULT_MAX_FUTURE, EARLIEST, LATEST, EventTimeWindow
from msp_plumbing.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    db_pool_max: int = Field(
        default=40,
        ge=1,
        description="Key lookups, claim INSERTs/UPDATEs, the raw consumer and the relay "
        "(no connection is held while Kafka answers)",
    )
    http_workers: int = Field(
        default=1, ge=1, le=64, description="uvicorn worker processes (each a full instance)"
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Larger request bodies get 413"
    )
    max_batch_events: int = Field(default=1000, ge=1, description="More events per post: 413")
    rate_limit_events_per_s: float = Field(
        default=2000.0, gt=0, description="Per credential, per instance (token bucket refill)"
    )
    rate_limit_burst: float = Field(
        default=5000.0, ge=1, description="Token bucket size; must cover the biggest batch"
    )
    produce_timeout_s: float = Field(
        default=15.0, gt=0, description="A post waits this long for Kafka's ack, then 503"
    )
    event_lines: Literal["request", "event"] = Field(
        default="request",
        description="Accepted events in the log (logger msp.events): one line per request "
        "with every id, or one line per event (costs CPU at high rates)",
    )
    event_time_not_before: AwareDatetime = Field(
        default=EARLIEST,
        ge=EARLIEST,
        lt=LATEST,
        description="An event whose time is earlier is refused (422, dead letter on raw topics)",
    )
    event_time_max_future_s: float = Field(
        default=DEFAULT_MAX_FUTURE.total_seconds(),
        ge=0,
        le=366 * 86400,
        description="An event whose time is more than this past the ingest's clock is refused",
    )
    accept_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="A post waits at most this long in all (key lookup, claim, produce), "
        "then 503 with Retry-After",
    )
    db_timeout_s: float = Field(
        default=5.0, gt=0, description="Each claim INSERT/UPDATE waits this long for Postgres"
    )
    max_event_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="An event larger than this once encoded gets 413 (Kafka's record "
        "limit, max.message.bytes, is 1 MiB by default)",
    )
    doubt_orphan_grace_s: float = Field(
        default=60.0,
        gt=0,
        description="An in-doubt claim of another or a dead process is resolved from the "
        "topic after this long (longer than any produce can still take)",
    )
    accepted_ids_retention_days: int = Field(
        default=30, ge=1, description="How long a re-post of an accepted id is recognised"
    )

    def event_time_window(self) -> EventTimeWindow:
        """The window of event times this ingest accepts (`msp_events.bounds`)."""
        return EventTimeWindow(
            not_before=self.event_time_not_before,
            max_future=timedelta(seconds=self.event_time_max_future_s),
        )
