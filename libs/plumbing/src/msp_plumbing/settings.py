"""The settings base every service extends (one pydantic-settings class per service,
built at start-up from environment variables, never at import)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from msp_access.settings import AccessSettings

DEFAULT_KAFKA = "127.0.0.1:19092"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:15432/postgres"


class ServiceSettings(AccessSettings):
    """Common settings. Env names: `MSP_<FIELD>`, plus the conventional unprefixed
    `KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL`. Defaults match `make run`. The access
    settings (identity provider, key pepper, metrics token) come from `AccessSettings`."""

    model_config = SettingsConfigDict(env_prefix="MSP_", extra="ignore", frozen=True)

    service_name: str
    kafka_bootstrap_servers: str = Field(
        default=DEFAULT_KAFKA,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "MSP_KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "MSP_DATABASE_URL"),
    )
    db_schema: str = Field(default="", description="Postgres schema; defaults to service name")
    topic_namespace: str = Field(default="", description="Prefix for every topic and group")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    event_log_level: str = Field(
        default="INFO",
        description="Level of the per-event log lines (logger msp.events, written at "
        "INFO): WARNING turns them off",
    )
    log_probe_requests: bool = Field(
        default=False, description="Also log uvicorn access lines of /healthz /readyz /metrics"
    )
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    db_pool_max: int = Field(default=10, ge=1)
    supervisor_give_up_s: float = Field(
        default=300.0,
        gt=0,
        description="A background loop failing this long without recovering ends the process",
    )
    supervisor_not_ready_s: float = Field(
        default=5.0, ge=0, description="/readyz is red once a loop has been retrying this long"
    )

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.service_name.replace("-", "_")

    @property
    def access_schema_name(self) -> str:
        """The shared access schema (keys, audit log): `<namespace>access` by default,
        like the service schemas of a namespaced deployment."""
        return self.access_schema or f"{self.topic_namespace}access"

    def group_id(self, name: str) -> str:
        return f"{self.topic_namespace}{self.service_name}.{name}"
