"""The FastAPI dependency every route declares: `require(permission)`.

    Reader = Annotated[Principal, require(Permission.INCIDENTS_READ)]

    @router.get("/incidents")
    async def list_incidents(principal: Reader, ...) -> ...

It authenticates the caller (`Authorization: Bearer <JWT | API key | metrics token>`,
`Authorization: Basic <any>:<API key>`, or `X-API-Key`), answers 401 when that fails and
403 when the principal's roles lack the permission, and returns the `Principal`.
The permission is recorded on the dependency (`route_permission`), so a test can prove
that every route declares one, and OpenAPI lists the security schemes per route.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from msp_access.apikeys import KEY_PREFIX, KeyCache
from msp_access.errors import ApiError
from msp_access.principal import ALL, Principal
from msp_access.roles import Permission
from msp_access.settings import AccessSettings
from msp_access.tokens import TokenRejected, TokenVerifier, looks_like_jwt

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""The only routes without a credential."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An OIDC access token from the MSP's identity provider, or an API key",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key"
)
basic_scheme = HTTPBasic(
    auto_error=False,
    scheme_name="basic",
    description="For webhooks that can only send Basic auth: any user name, the API key as "
    "the password",
)


def unauthorized(message: str, *, invalid_token: bool = False) -> ApiError:
    challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    return ApiError(
        401,
        message,
        [("/headers/authorization", message)],
        headers={"WWW-Authenticate": challenge},
    )


def presented_credential(authorization: str | None, api_key: str | None) -> str | None:
    """The credential of a request: Bearer value, Basic password, or X-API-Key."""
    scheme, _, value = (authorization or "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        password = decoded.partition(":")[2]
        return password or None
    return api_key.strip() if api_key and api_key.strip() else None


class Authenticator:
    """Resolves a request's credential to a `Principal`: one per service process."""

    def __init__(self, *, settings: AccessSettings, pool: asyncpg.Pool, schema: str) -> None:
        self.tokens = TokenVerifier(settings) if settings.oidc_issuer else None
        self.keys = KeyCache(
            pool=pool,
            schema=schema,
            pepper=settings.api_key_pepper.get_secret_value(),
            ttl_s=settings.auth_cache_ttl_s,
        )
        self._metrics_token = settings.metrics_token.get_secret_value().encode()

    async def authenticate(self, *, authorization: str | None, api_key: str | None) -> Principal:
        credential = presented_credential(authorization, api_key)
        if credential is None:
            raise unauthorized(
                "no credential: send Authorization: Bearer <token or API key> or X-API-Key"
            )
        if looks_like_jwt(credential):
            if self.tokens is None:
                raise unauthorized(
                    "bearer tokens are not accepted: no identity provider is configured",
                    invalid_token=True,
                )
            try:
                return await self.tokens.verify(credential)
            except TokenRejected as exc:
                raise unauthorized(f"invalid token: {exc}", invalid_token=True) from None
        if credential.startswith(KEY_PREFIX):
            key = await self.keys.resolve(credential)
            if key is None:
                raise unauthorized("unknown or revoked API key", invalid_token=True)
            return key.principal()
        if self._metrics_token and hmac.compare_digest(credential.encode(), self._metrics_token):
            return METRICS_SCRAPER
        raise unauthorized("not a valid token or API key", invalid_token=True)


METRICS_SCRAPER = Principal.of(
    subject="metrics-scraper",
    display_name="Prometheus",
    credential_id="metrics-token",
    kind="machine",
    roles={"metrics"},
    customers=ALL,
)


def authenticator_of(request: Request) -> Authenticator:
    found: Authenticator | None = getattr(request.app.state.runtime, "authenticator", None)
    if found is None:
        raise ApiError(503, "starting up", headers={"Retry-After": "1"})
    return found


BearerCredential = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
KeyCredential = Annotated[str | None, Security(api_key_scheme)]
BasicCredential = Annotated[HTTPBasicCredentials | None, Security(basic_scheme)]
# The three above only declare the schemes in OpenAPI (Swagger UI's Authorize);
# `Authenticator.authenticate` reads the headers itself.


async def _authorize(request: Request, permission: Permission) -> Principal:
    principal = await authenticator_of(request).authenticate(
        authorization=request.headers.get("authorization"),
        api_key=request.headers.get("x-api-key"),
    )
    if not principal.can(permission):
        raise ApiError(
            403,
            f"{principal.display_name} may not do this: it needs {permission.value}",
            [("/headers/authorization", f"missing permission {permission.value}")],
        )
    request.state.principal = principal
    return principal


def require(permission: Permission) -> Any:
    """`Depends(...)` resolving the caller and refusing it without `permission`."""

    async def dependency(
        request: Request, _bearer: BearerCredential, _key: KeyCredential
    ) -> Principal:
        return await _authorize(request, permission)

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def declared(permission: Permission, *, basic: bool = False) -> Any:
    """For a route that authenticates in its own body (ingest's write path, which counts
    every refusal in its metrics and shares its code with an ASGI fast path): declares
    `permission` and the security schemes like `require` (plus HTTP Basic with `basic`),
    without resolving anything. The route must authenticate and check it itself."""

    async def with_basic(
        _bearer: BearerCredential, _key: KeyCredential, _basic: BasicCredential
    ) -> None:
        return None

    async def without_basic(_bearer: BearerCredential, _key: KeyCredential) -> None:
        return None

    marker: Any = with_basic if basic else without_basic
    marker.permission = permission
    return Depends(marker)


def annotate_permissions(routes: list[Any]) -> None:
    """Write each route's permission into its OpenAPI operation (`x-permission`), so
    clients, the docs and the route test read it from the document."""
    for route in routes:
        if isinstance(route, APIRoute):
            permission = route_permission(route)
            if permission is not None:
                extra = dict(route.openapi_extra or {})
                extra["x-permission"] = permission.value
                route.openapi_extra = extra
                route.description = (
                    f"{route.description}\n\nRequires `{permission.value}`."
                ).strip()


def undeclared_routes(routes: list[Any]) -> list[str]:
    """Every API route (OpenAPI-hidden ones too) that declares no permission and is not
    one of `OPEN_PATHS`, as "METHODS path": default deny, so the app factory refuses to
    build an app with one (`msp_plumbing.app.create_app`)."""
    return [
        f"{','.join(sorted(route.methods or ()))} {route.path}"
        for route in routes
        if isinstance(route, APIRoute)
        and route.path not in OPEN_PATHS
        and route_permission(route) is None
    ]


def route_permission(route: APIRoute) -> Permission | None:
    """The permission a route declares through `require`, or None."""
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        call: Callable[..., Any] | None = dep.call
        found = getattr(call, "permission", None)
        if isinstance(found, Permission):
            return found
        pending.extend(dep.dependencies)
    return None
