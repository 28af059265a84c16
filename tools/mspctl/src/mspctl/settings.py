"""CtlSettings: the one settings class of mspctl, built when a command runs (never at
import). Standard names first (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`,
`MSP_TOPIC_NAMESPACE`, `MSP_API_KEY_PEPPER`), `MSPCTL_*` for the rest; the defaults
match `make run`."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from msp_plumbing.settings import DEFAULT_DATABASE_URL, DEFAULT_KAFKA


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class CtlSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSPCTL_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default=DEFAULT_KAFKA,
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS", "MSPCTL_KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=_env("DATABASE_URL", "MSPCTL_DATABASE_URL"),
    )
    topic_namespace: str = Field(
        default="",
        validation_alias=_env("MSPCTL_TOPIC_NAMESPACE", "MSP_TOPIC_NAMESPACE"),
        description="Prefix of every topic and consumer group (as the services use it)",
    )
    schema_prefix: str | None = Field(
        default=None,
        description="Prefix of the service schemas; defaults to the topic namespace",
    )
    ingest_url: str = "http://127.0.0.1:8080"
    incidents_url: str = "http://127.0.0.1:8081"
    sla_url: str = Field(
        default="http://127.0.0.1:8082",
        validation_alias=_env("MSPCTL_SLA_URL", "MSPCTL_SLA_CLOCK_URL"),
    )
    billing_url: str = "http://127.0.0.1:8083"
    api_key: SecretStr | None = Field(default=None, description="ingest API key for publish")
    token: SecretStr | None = Field(
        default=None,
        description="The operator's credential for the services' APIs: a bearer access token "
        "from the identity provider, or an API key (`MSPCTL_TOKEN`)",
    )
    oidc_token_url: str = Field(
        default="", description="Token endpoint for the OAuth2 client-credentials grant"
    )
    oidc_issuer: str = Field(
        default="", description="The provider's issuer, for `mspctl login` (device grant)"
    )
    token_file: str = Field(
        default="",
        description="Where `mspctl login` keeps the tokens (user-only); default "
        "$XDG_CONFIG_HOME/mspctl/token.json",
    )
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = ""
    api_key_pepper: SecretStr = Field(
        default=SecretStr("dev-pepper-change-me"),
        validation_alias=_env("MSPCTL_API_KEY_PEPPER", "MSP_API_KEY_PEPPER"),
        description="ingest's HMAC pepper: keys made with another pepper do not verify",
    )
    http_timeout_s: float = Field(default=30.0, gt=0)

    def topic(self, registry_name: str) -> str:
        return f"{self.topic_namespace}{registry_name}"

    def schema_of(self, base: str) -> str:
        """The real schema of a service's base schema name (e.g. "billing")."""
        prefix = self.topic_namespace if self.schema_prefix is None else self.schema_prefix
        return f"{prefix}{base}"

    def service_url(self, service: str) -> str:
        return {
            "ingest": self.ingest_url,
            "incidents": self.incidents_url,
            "sla-clock": self.sla_url,
            "billing": self.billing_url,
        }[service].rstrip("/")
