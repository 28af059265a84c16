"""`TokenVerifier`'s cache of verified tokens, against a JWKS served over real HTTP from
this process: a cached token is answered without a signature check, never after its
`exp`, and never longer than `oidc_token_cache_s` after it was verified.

What makes the cache visible: the provider withdraws the token's signing key (and the
verifier re-fetches the JWKS for a token with the new key's `kid`). While the entry
lives, the token is still accepted (no signature check); once it ends, the token is
checked again and refused (its key is gone)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from msp_access.settings import AccessSettings
from msp_access.tokens import TokenRejected, TokenVerifier


class Provider:
    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}/realms/cache"
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []

    def new_key(self, kid: str) -> None:
        """Rotate: `kid` becomes the only published key."""
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published = [kid]

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str, *, lifetime_s: int = 600) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": "msp-api",
            "sub": f"user-{kid}",
            "azp": "cache-test",
            "nbf": now,
            "exp": now + lifetime_s,
            "realm_access": {"roles": ["dispatcher"]},
        }
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    found = Provider(server.server_address[1])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(found.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    """Wall-clock time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def verifier(provider: Provider, clock: Clock) -> TokenVerifier:
    settings = AccessSettings(
        oidc_issuer=provider.issuer,
        oidc_jwks_url=f"{provider.issuer}/certs",
        oidc_jwks_min_refresh_s=0,
        oidc_token_cache_s=60,
        oidc_leeway_s=0,
    )
    return TokenVerifier(settings, clock=clock)


async def test_a_cached_token_lives_at_most_the_cache_ttl(provider: Provider) -> None:
    provider.new_key("k1")
    clock = Clock()
    tokens = verifier(provider, clock)
    first = provider.token("k1")
    assert (await tokens.verify(first)).subject == "user-k1"
    provider.new_key("k2")  # the provider withdraws k1
    assert (await tokens.verify(provider.token("k2"))).subject == "user-k2"  # JWKS re-fetched
    assert (await tokens.verify(first)).subject == "user-k1", "cached: no signature check"
    clock.offset = 61
    with pytest.raises(TokenRejected, match="k1"):
        await tokens.verify(first)


async def test_a_cached_token_never_outlives_its_exp(provider: Provider) -> None:
    provider.new_key("k1")
    clock = Clock()
    tokens = verifier(provider, clock)
    short = provider.token("k1", lifetime_s=30)
    await tokens.verify(short)
    provider.new_key("k2")
    await tokens.verify(provider.token("k2"))
    clock.offset = 20
    assert (await tokens.verify(short)).subject == "user-k1"
    clock.offset = 31  # past exp, well within the 60 s cache time
    with pytest.raises(TokenRejected):
        await tokens.verify(short)


async def test_a_refused_token_is_not_cached(provider: Provider) -> None:
    provider.new_key("k1")
    tokens = verifier(provider, Clock())
    forged = jwt.encode(
        jwt.decode(provider.token("k1"), options={"verify_signature": False}),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    for _ in range(2):
        with pytest.raises(TokenRejected, match="Signature"):
            await tokens.verify(forged)
