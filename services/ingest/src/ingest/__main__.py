"""`python -m ingest`: the HTTP API, the raw-topic consumer and the outbox relay.
Migrations are a separate step: `python -m msp_plumbing.migrations --schema ingest
--package ingest`.

`MSP_HTTP_WORKERS=N` (default 1) runs N uvicorn worker processes on the port, each a
full instance (own pool, producer, relay candidate, raw consumer in the same group).
That is "more instances" on one host; on Kubernetes prefer 1 worker per pod and more
pods, because each worker keeps its own /metrics registry and rate-limit buckets.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from ingest.runtime import IngestRuntime, create_ingest_app
from ingest.settings import IngestSettings
from msp_plumbing.app import serve
from msp_plumbing.jsonlog import configure_logging


def build_app() -> FastAPI:
    """App factory for worker processes: each builds its settings and runtime."""
    settings = IngestSettings()
    configure_logging(settings.service_name, settings.log_level)
    return create_ingest_app(IngestRuntime(settings))


def main() -> None:
    settings = IngestSettings()
    if settings.http_workers == 1:
        runtime = IngestRuntime(settings)
        serve(create_ingest_app(runtime), runtime)
        return
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        "ingest.__main__:build_app",
        factory=True,
        workers=settings.http_workers,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
    )


if __name__ == "__main__":
    main()
