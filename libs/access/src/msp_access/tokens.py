"""OIDC bearer access tokens (JWT), verified with PyJWT against the provider's JWKS.

What a token must pass: an algorithm from the allow-list (RS256/ES256 by default; never
`none`, never an HMAC algorithm, so a public key can never be used as an HMAC secret),
a signature by a key of the provider's JWKS (matched by `kid`), `exp` and `nbf` within
the leeway, the configured `iss` and `aud`, and a `sub`.

The JWKS is fetched once and used for `oidc_jwks_cache_s`; a token whose `kid` is not
in it triggers a re-fetch (the provider rotated its key), at most once per
`oidc_jwks_min_refresh_s`, so a flood of forged `kid`s cannot hammer the provider.

A verified token's principal is cached by the token's SHA-256 until the earlier of its
`exp` and `oidc_token_cache_s` (default 60 s) after it was verified: a client sends the
same access token on every request until it expires, and a signature check costs more
CPU than the rest of a single-event post's authentication (bench/results/access.json).
The cache never outlives the token; a signing key the provider withdraws stops
verifying new tokens at once and cached ones within `oidc_token_cache_s`.

Roles and customers come from configurable dotted claim paths (Keycloak
`realm_access.roles`, Entra ID `roles`, Okta `groups`), optionally renamed through
`oidc_role_map`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from msp_access.principal import ALL, Customers, Principal
from msp_access.settings import AccessSettings

NEVER_ALLOWED = frozenset({"none", "HS256", "HS384", "HS512"})


class TokenRejected(Exception):
    """The token is not acceptable; the message says why (safe to show the caller)."""


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("ey")


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None. A literal key that
    contains dots (e.g. a URL-named claim) is tried first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> list[str] | None:
    """A claim as a list of strings: a JSON list, or one space/comma separated string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


class JwksCache:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        cache_s: float,
        min_refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer.rstrip("/")
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.clock = clock
        self.fetches = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._fetched_at is None or self.clock() - self._fetched_at > self.cache_s:
            await self._refresh(force=True)
        found = self._lookup(kid)
        if found is None:
            await self._refresh(force=False)  # rotated? (rate-limited)
            found = self._lookup(kid)
        if found is None:
            raise TokenRejected(f"signing key {kid!r} is not in the provider's JWKS")
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = self.clock()
            if self._fetched_at is not None:
                age = now - self._fetched_at
                if (force and age <= self.cache_s) or (not force and age < self.min_refresh_s):
                    return  # another request just refreshed, or too soon to ask again
            try:
                async with httpx.AsyncClient(timeout=10.0) as client:
                    url = self.jwks_url or await self._discover(client)
                    response = await client.get(url)
                    response.raise_for_status()
                    document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                if self._fetched_at is None:
                    raise TokenRejected(f"the provider's JWKS is unavailable: {exc}") from None
                return  # keep the keys we have; try again after min_refresh_s
            finally:
                self._fetched_at = now
            self.fetches += 1
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []) if isinstance(document, dict) else []:
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                    continue
                try:
                    found = jwt.PyJWK(entry)
                except jwt.PyJWTError:
                    continue  # a key type or algorithm we do not verify with
                keys[str(entry.get("kid", ""))] = found
            self._keys = keys

    async def _discover(self, client: httpx.AsyncClient) -> str:
        response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        uri = response.json().get("jwks_uri")
        if not isinstance(uri, str):
            raise ValueError("the provider's metadata has no jwks_uri")
        self.jwks_url = uri
        return uri


class TokenVerifier:
    MAX_CACHED = 10_000
    """Bound on cached tokens (cleared when passed: a flood of distinct valid tokens
    costs signature checks, never memory)."""

    def __init__(
        self,
        settings: AccessSettings,
        *,
        jwks: JwksCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._verified: dict[bytes, tuple[float, Principal]] = {}
        self.algorithms = [a for a in settings.oidc_algorithms if a not in NEVER_ALLOWED]
        self.jwks = jwks or JwksCache(
            jwks_url=settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            cache_s=settings.oidc_jwks_cache_s,
            min_refresh_s=settings.oidc_jwks_min_refresh_s,
        )

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            if cached[0] > self.clock():
                return cached[1]
            del self._verified[digest]
        principal, expires = await self._verify(token)
        until = min(expires, self.clock() + self.settings.oidc_token_cache_s)
        if self.settings.oidc_token_cache_s > 0:
            if len(self._verified) >= self.MAX_CACHED:
                self._verified.clear()
            self._verified[digest] = (until, principal)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """Signature and claims checked; the principal and the token's `exp`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenRejected(f"algorithm {alg!r} is not accepted")
        key = await self.jwks.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.settings.oidc_audience,
                issuer=self.settings.oidc_issuer,
                leeway=self.settings.oidc_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(str(exc)) from None
        return self.principal(claims), float(claims["exp"])

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        s = self.settings
        raw_roles = _strings(claim_at(claims, s.oidc_roles_claim)) or []
        roles = {s.oidc_role_map.get(r, r) for r in raw_roles}
        found = _strings(claim_at(claims, s.oidc_customers_claim))
        # A customer user is always scoped (to nothing if the claim is missing); staff
        # without the claim see every customer, with it only those listed.
        customers: Customers = ALL
        if "customer" in roles or found:
            customers = frozenset(found or [])
        name = next(
            (str(claims[c]) for c in s.oidc_name_claims if isinstance(claims.get(c), str)),
            str(claims["sub"]),
        )
        client = claims.get("azp") or claims.get("client_id") or "unknown"
        machine = str(claims.get("preferred_username", "")).startswith("service-account-") or (
            claims.get("idtyp") == "app"
        )
        return Principal.of(
            subject=str(claims["sub"]),
            display_name=name,
            credential_id=f"oidc:{client}",
            kind="machine" if machine else "person",
            roles=roles,
            customers=customers,
        )
