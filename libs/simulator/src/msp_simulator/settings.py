"""The simulator CLI's one settings class (env `MSP_SIM_*`, flags override)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSP_SIM_", extra="ignore")

    seed: int = 1
    month: str | None = Field(default=None, description="YYYY-MM; default 2026-03")
    customers: int = Field(default=30, ge=5, le=10_000)
    ingest_url: str | None = None
    incidents_url: str | None = None
    sla_url: str | None = None
    billing_url: str | None = None
    events_key: str | None = None
    alertmanager_key: str | None = None
    operator_key: str | None = None
    """Credential (API key or bearer token) for the reads, the invoice run and /metrics."""
