"""`python -m ingest`: the HTTP API, the raw-topic consumer and the outbox relay.
Migrations are a separate step: `python -m msp_plumbing.migrations --schema ingest
--package ingest`.

`MSP_HTTP_WORKERS=N` (default 1) runs N uvicorn worker processes on the port, each a
full instance (own pool, producer, relay candidate, raw consumer in the same group).
That is "more instances" on one host; on Kubernetes prefer 1 worker per pod and more
pods, because each worker keeps its own /metrics registry and rate-limit buckets.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import uvicorn

from ingest.httpserver import CoalescingHttpToolsProtocol
from ingest.runtime import IngestRuntime, serving_app
from ingest.settings import IngestSettings
from ingest.tracing import RequestTrace
from msp_plumbing.app import GRACEFUL_SHUTDOWN_S, serve
from msp_plumbing.jsonlog import configure_logging

UVICORN: dict[str, Any] = {
    "loop": "uvloop",  # uvicorn[standard]: C event loop and HTTP parser
    "http": CoalescingHttpToolsProtocol,  # httptools, one write per response
    "log_config": None,  # our JSON logging (msp_plumbing.jsonlog)
    "access_log": False,  # one line per event at thousands/s; the metrics count requests
    "proxy_headers": False,  # the client address is not used
    "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,  # SIGTERM ends within bounds
}


def build_app() -> RequestTrace:
    """App factory for worker processes: each builds its settings and runtime. A worker
    whose background loop died for good stops itself (SIGTERM); uvicorn's supervisor
    then starts a fresh worker."""
    settings = IngestSettings()
    configure_logging(
        settings.service_name, settings.log_level, event_level=settings.event_log_level
    )
    runtime = IngestRuntime(settings)
    runtime.on_fatal = lambda: os.kill(os.getpid(), signal.SIGTERM)
    return serving_app(runtime)


def main() -> None:
    settings = IngestSettings()
    if settings.http_workers == 1:
        runtime = IngestRuntime(settings)
        serve(serving_app(runtime), runtime, **UVICORN)  # exit code 1 if a loop died
        return
    configure_logging(
        settings.service_name, settings.log_level, event_level=settings.event_log_level
    )
    uvicorn.run(
        "ingest.__main__:build_app",
        factory=True,
        workers=settings.http_workers,
        host=settings.http_host,
        port=settings.http_port,
        **UVICORN,
    )


if __name__ == "__main__":
    main()
