"""The one settings class of sla-clock (env `MSP_*`), built at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from msp_plumbing.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    service_name: str = "sla-clock"
    http_port: int = Field(default=8003, ge=1, le=65535)
    scheduler_clock: Literal["wall", "event_time"] = Field(
        default="wall",
        description="wall: deadlines fire on wall time (live); event_time: on the max "
        "event time consumed so far (replay, simulation, tests)",
    )
    # replays are set-based per batch: bigger batches amortise the round trips
    consumer_batch_size: int = Field(default=1000, ge=1, le=10_000)
    consumers_per_process: int = Field(
        default=2,
        ge=1,
        le=6,
        description="members of the consumer group in this process: while one waits on "
        "Postgres another computes (the topics have 6 partitions)",
    )
    scheduler_interval_s: float = Field(default=0.1, gt=0, le=60)
    scheduler_batch_size: int = Field(default=1000, ge=1, le=50_000)
