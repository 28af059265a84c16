"""A small real OIDC issuer for the route tests: an RSA key of our own, its JWKS and
discovery document served over HTTP from this process, tokens signed with PyJWT. It
can mint what no well-behaved provider hands out (expired, not yet valid, another
issuer or audience, a forged signature, `alg: none`, HS256 keyed with the public key),
which is what the route tests must see refused."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "msp-api"
KID = "route-test-key"


class TestIssuer:
    __test__ = False  # not a test class

    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}/realms/route-tests"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def env(self) -> dict[str, str]:
        """The services' settings for this issuer (discovery, Keycloak-style claims)."""
        return {"MSP_OIDC_ISSUER": self.issuer, "MSP_OIDC_AUDIENCE": AUDIENCE}

    def claims(
        self, *, roles: list[str], customers: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": f"user-{uuid.uuid4().hex[:8]}",
            "name": "Route Tester",
            "azp": "route-tests",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "realm_access": {"roles": roles},
        }
        if customers is not None:
            claims["customer_ids"] = customers
        claims.update(extra)
        return claims

    def token(self, *, roles: list[str], customers: list[str] | None = None, **extra: Any) -> str:
        return self.sign(self.claims(roles=roles, customers=customers, **extra))

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def bad_tokens(self) -> dict[str, str]:
        """Tokens that must all be refused (401), each for one reason, with a role that
        would otherwise be allowed everything."""
        roles = ["admin", "dispatcher", "billing", "publisher"]
        now = int(time.time())
        good = self.claims(roles=roles)
        unsigned_header = jwt.utils.base64url_encode(
            json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode()
        )
        body = jwt.utils.base64url_encode(json.dumps(good).encode())
        return {
            "expired": self.sign({**good, "iat": now - 7200, "exp": now - 3600}),
            "not yet valid": self.sign({**good, "nbf": now + 3600}),
            "wrong issuer": self.sign({**good, "iss": "https://evil.example/realms/msp"}),
            "wrong audience": self.sign({**good, "aud": "another-api"}),
            "bad signature": jwt.encode(good, self.forger, algorithm="RS256", headers={"kid": KID}),
            "alg none": (unsigned_header + b"." + body + b".").decode(),
            "hs256 with the public key": _hs256(good, self.public_pem),
            "unknown kid": jwt.encode(good, self.key, algorithm="RS256", headers={"kid": "other"}),
            "no exp": self.sign({k: v for k, v in good.items() if k != "exp"}),
        }


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """The key-confusion attack: HS256 keyed with the provider's public key. PyJWT
    refuses to sign with a PEM key, so the token is put together by hand."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


@contextmanager
def serving(port: int) -> Iterator[TestIssuer]:
    issuer = TestIssuer(port)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = "/realms/route-tests"
            if self.path == f"{base}/.well-known/openid-configuration":
                body = {"issuer": issuer.issuer, "jwks_uri": f"{issuer.issuer}/certs"}
            elif self.path == f"{base}/certs":
                body = issuer.jwks
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
