"""Cost of verifying a caller, per request, on the paths every API call takes:

- an OIDC access token (RS256 and ES256) through `msp_access.tokens.TokenVerifier` with
  the JWKS cached (served once from a local HTTP endpoint, as a provider would);
- an API key through `msp_access.apikeys.KeyCache`: a cache hit (HMAC + dict), and a
  miss (one indexed query on the real Postgres);
- the whole `Authenticator.authenticate` (header parsing included) for both.

Writes bench/results/access.json; compare with bench/results/ingest.json's
`single_service_cpu_us_per_event` (the service's CPU per single-event post).

    make bench-access
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.common import RESULTS, write_results
from msp_access.apikeys import KeyCache, create_key
from msp_access.dependency import Authenticator
from msp_access.settings import AccessSettings
from msp_access.tokens import TokenVerifier
from msp_devstack.access import prepare_access
from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import free_port

ROUNDS = 5000
ISSUER_PATH = "/realms/bench"


def _keys() -> tuple[dict[str, Any], dict[str, Any]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {
                **jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True),
                "kid": "rsa",
                "use": "sig",
                "alg": "RS256",
            },
            {
                **jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True),
                "kid": "ec",
                "use": "sig",
                "alg": "ES256",
            },
        ]
    }
    return {"rsa": rsa_key, "ec": ec_key}, jwks


def _serve(jwks: dict[str, Any], port: int) -> ThreadingHTTPServer:
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def _per_call_us(call: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> float:
    for _ in range(50):
        await call()  # warm up (the JWKS fetch, the key cache fill)
    started = time.process_time()
    for _ in range(rounds):
        await call()
    return round((time.process_time() - started) / rounds * 1e6, 1)


async def measure(database_url: str) -> dict[str, float]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}{ISSUER_PATH}"
    keys, jwks = _keys()
    server = _serve(jwks, port)
    try:
        settings = AccessSettings(
            oidc_issuer=issuer, oidc_jwks_url=f"{issuer}/certs", auth_cache_ttl_s=600
        )
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": "msp-api",
            "sub": "bench-user",
            "name": "Bench",
            "exp": now + 3600,
            "nbf": now,
            "realm_access": {"roles": ["dispatcher"]},
        }
        rs256 = jwt.encode(claims, keys["rsa"], algorithm="RS256", headers={"kid": "rsa"})
        es256 = jwt.encode(claims, keys["ec"], algorithm="ES256", headers={"kid": "ec"})
        verifier = TokenVerifier(settings)
        schema = await prepare_access(database_url, namespace="bench_")
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        async with pool.acquire() as conn:
            _, secret = await create_key(
                conn,
                schema=schema,
                pepper=settings.api_key_pepper.get_secret_value(),
                source="bench",
                roles=["publisher"],
                all_customers=True,
            )
        hits = KeyCache(
            pool=pool, schema=schema, pepper=settings.api_key_pepper.get_secret_value(), ttl_s=600
        )
        misses = KeyCache(
            pool=pool, schema=schema, pepper=settings.api_key_pepper.get_secret_value(), ttl_s=0
        )
        authn = Authenticator(settings=settings, pool=pool, schema=schema)
        metrics = {
            "rounds": float(ROUNDS),
            "jwt_rs256_verify_cpu_us": await _per_call_us(lambda: verifier.verify(rs256)),
            "jwt_es256_verify_cpu_us": await _per_call_us(lambda: verifier.verify(es256)),
            "api_key_cached_cpu_us": await _per_call_us(lambda: hits.resolve(secret)),
            "api_key_uncached_cpu_us": await _per_call_us(lambda: misses.resolve(secret), 1000),
            "authenticate_bearer_rs256_cpu_us": await _per_call_us(
                lambda: authn.authenticate(authorization=f"Bearer {rs256}", api_key=None)
            ),
            "authenticate_api_key_cpu_us": await _per_call_us(
                lambda: authn.authenticate(authorization=f"Bearer {secret}", api_key=None)
            ),
            "jwks_fetches": float(verifier.jwks.fetches),
        }
        await pool.close()
    finally:
        server.shutdown()
    ingest = json.loads((RESULTS / "ingest.json").read_text())["metrics"]
    per_post = float(ingest["single_service_cpu_us_per_event"])
    metrics["ingest_single_service_cpu_us_per_event"] = per_post
    metrics["api_key_cached_share_of_single_post"] = round(
        metrics["authenticate_api_key_cpu_us"] / per_post, 4
    )
    metrics["jwt_rs256_share_of_single_post"] = round(
        metrics["authenticate_bearer_rs256_cpu_us"] / per_post, 4
    )
    return metrics


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="msp-bench-access-") as scratch:
        Path(scratch).chmod(0o755)  # the non-root postgres user must reach its data dir
        with LocalPostgres(Path(scratch) / "pg") as pg:
            metrics = asyncio.run(measure(pg.database_url))
            version = asyncio.run(_version(pg.database_url))
    import os
    import platform

    facts = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": version,
        "pyjwt": jwt.__version__,
    }
    path = write_results("access", facts, metrics)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {path}")


async def _version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
