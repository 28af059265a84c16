"""Cost of verifying a caller, per request, on the paths every API call takes:

- an OIDC access token (RS256 and ES256) through `msp_access.tokens.TokenVerifier` with
  the JWKS cached (served once from a local HTTP endpoint, as a provider would): a
  signature check on every call (`oidc_token_cache_s=0`), and the default, where a
  token verified once is reused until its `exp`;
- an API key through `msp_access.apikeys.KeyCache`: a cache hit (HMAC + dict), and a
  miss (one indexed query on the real Postgres);
- the whole `Authenticator.authenticate` (header parsing included) for both.

Writes bench/results/access.json, with each cost as a share of bench/results/ingest.json's
`single_service_cpu_us_per_event` (the service's CPU per single-event post). The
end-to-end answer (single-post throughput with a token against an API key, interleaved
in one run) is `make bench-ingest`'s `single_post_ratio_jwt_to_apikey`, copied here.

    make bench-access
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import jwt

from bench.common import RESULTS, LocalIssuer, write_results
from msp_access.apikeys import KeyCache, create_key
from msp_access.dependency import Authenticator
from msp_access.settings import AccessSettings
from msp_access.tokens import TokenVerifier
from msp_devstack.access import prepare_access
from msp_devstack.postgres import LocalPostgres

ROUNDS = 5000


async def _per_call_us(call: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> float:
    for _ in range(50):
        await call()  # warm up (the JWKS fetch, the key cache fill)
    started = time.process_time()
    for _ in range(rounds):
        await call()
    return round((time.process_time() - started) / rounds * 1e6, 1)


async def measure(database_url: str) -> dict[str, float]:
    with LocalIssuer() as issuer:
        settings = AccessSettings(
            oidc_issuer=issuer.issuer, oidc_jwks_url=issuer.jwks_url, auth_cache_ttl_s=600
        )
        uncached = AccessSettings(
            oidc_issuer=issuer.issuer, oidc_jwks_url=issuer.jwks_url, oidc_token_cache_s=0
        )
        rs256 = issuer.token(roles=["dispatcher"])
        es256 = issuer.token(roles=["dispatcher"], alg="ES256")
        verifier = TokenVerifier(uncached)  # a signature check on every call
        cached = TokenVerifier(settings)  # the default: a token verified once until exp
        schema = await prepare_access(database_url, namespace="bench_")
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        pepper = settings.api_key_pepper.get_secret_value()
        async with pool.acquire() as conn:
            _, secret = await create_key(
                conn,
                schema=schema,
                pepper=pepper,
                source="bench",
                roles=["publisher"],
                all_customers=True,
            )
        hits = KeyCache(pool=pool, schema=schema, pepper=pepper, ttl_s=600)
        misses = KeyCache(pool=pool, schema=schema, pepper=pepper, ttl_s=0)
        authn = Authenticator(settings=settings, pool=pool, schema=schema)
        metrics = {
            "rounds": float(ROUNDS),
            "jwt_rs256_verify_cpu_us": await _per_call_us(lambda: verifier.verify(rs256)),
            "jwt_es256_verify_cpu_us": await _per_call_us(lambda: verifier.verify(es256)),
            "jwt_cached_cpu_us": await _per_call_us(lambda: cached.verify(rs256)),
            "api_key_cached_cpu_us": await _per_call_us(lambda: hits.resolve(secret)),
            "api_key_uncached_cpu_us": await _per_call_us(lambda: misses.resolve(secret), 1000),
            "authenticate_bearer_rs256_cpu_us": await _per_call_us(
                lambda: authn.authenticate(authorization=f"Bearer {rs256}", api_key=None)
            ),
            "authenticate_api_key_cpu_us": await _per_call_us(
                lambda: authn.authenticate(authorization=f"Bearer {secret}", api_key=None)
            ),
            "jwks_fetches": float(verifier.jwks.fetches + cached.jwks.fetches),
        }
        await pool.close()
    ingest = json.loads((RESULTS / "ingest.json").read_text())["metrics"]
    per_post = float(ingest["single_service_cpu_us_per_event"])
    metrics["ingest_single_service_cpu_us_per_event"] = per_post
    metrics["api_key_cached_share_of_single_post"] = round(
        metrics["authenticate_api_key_cpu_us"] / per_post, 4
    )
    metrics["jwt_rs256_cached_share_of_single_post"] = round(
        metrics["authenticate_bearer_rs256_cpu_us"] / per_post, 4
    )
    metrics["jwt_rs256_uncached_share_of_single_post"] = round(
        metrics["jwt_rs256_verify_cpu_us"] / per_post, 4
    )
    for name in ("single_post_ratio_jwt_to_apikey", "single_jwt_events_per_s"):
        if name in ingest:  # the end-to-end comparison, measured by bench-ingest
            metrics[f"ingest_{name}"] = float(ingest[name])
    return metrics


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="msp-bench-access-") as scratch:
        Path(scratch).chmod(0o755)  # the non-root postgres user must reach its data dir
        with LocalPostgres(Path(scratch) / "pg") as pg:
            metrics = asyncio.run(measure(pg.database_url))
            version = asyncio.run(_version(pg.database_url))
    import os
    import platform

    facts: dict[str, object] = {
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
