"""AccessSettings: how a service verifies callers (env `MSP_*`). Every service's
settings class extends it (through `msp_plumbing.settings.ServiceSettings`), so the
identity provider, the key pepper and the metrics token are configured the same way
everywhere."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PEPPER = "dev-pepper-change-me"
DEV_METRICS_TOKEN = "dev-metrics-token-change-me"


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSP_", extra="ignore", frozen=True)

    oidc_issuer: str = Field(
        default="",
        description="The provider's issuer (`iss`), e.g. https://sso.example/realms/msp; "
        "empty: bearer JWTs are refused, only API keys work",
    )
    oidc_audience: str = Field(default="msp-api", description="Required `aud` of access tokens")
    oidc_jwks_url: str = Field(
        default="", description="JWKS URL; empty: discovered from the issuer's metadata"
    )
    oidc_roles_claim: str = Field(
        default="realm_access.roles",
        description="Dotted path of the roles claim: Keycloak realm_access.roles, "
        "Entra ID roles, Okta groups",
    )
    oidc_customers_claim: str = Field(
        default="customer_ids", description="Dotted path of the customer ids claim"
    )
    oidc_name_claims: list[str] = Field(
        default=["name", "preferred_username", "email"],
        description="First present claim is the display name",
    )
    oidc_role_map: dict[str, str] = Field(
        default={},
        description='Provider role/group name → our role, JSON, e.g. {"MSP.Billing": "billing"}',
    )
    oidc_algorithms: list[str] = Field(
        default=["RS256", "ES256"], description="Accepted signature algorithms (allow-list)"
    )
    oidc_leeway_s: float = Field(default=30.0, ge=0, le=300, description="Clock skew on exp/nbf")
    oidc_jwks_cache_s: float = Field(
        default=600.0, gt=0, description="How long a fetched JWKS is used before a re-fetch"
    )
    oidc_jwks_min_refresh_s: float = Field(
        default=5.0, ge=0, description="An unknown `kid` re-fetches the JWKS at most this often"
    )
    oidc_token_cache_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="A verified token is reused until its exp or this long, whichever is "
        "first (0: verify every request)",
    )
    api_key_pepper: SecretStr = Field(
        default=SecretStr(DEV_PEPPER),
        description="HMAC secret for API key hashes; keep it out of the database",
    )
    auth_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a key lookup is cached: the revocation latency of a key",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(DEV_METRICS_TOKEN),
        description="Static bearer token of the Prometheus scrape credential (`metrics` role)",
    )
    access_schema: str = Field(
        default="", description="Schema of the shared key table; default <namespace>access"
    )
