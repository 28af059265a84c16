"""The FastAPI app factory every service uses: `/healthz` (the process and its
background loops are alive) and `/readyz` (Postgres and Kafka answer) — the only open
routes: `create_app` refuses to build an app with any other route that declares no
permission —, `/metrics` (Prometheus, `metrics:read`), `/v1/audit` (`audit:read`), the
one error body of `msp_access.errors`, JSON logs, the edge checks of `edge.py` on every
route, and the runtime started and stopped with the app. `/readyz` is also red while a
background loop has been retrying for more than a few seconds.

`serve` ends the process with exit code 1 when a background loop died for good, and
bounds the shutdown: requests in flight get `GRACEFUL_SHUTDOWN_S`, each runtime step
`runtime.STOP_TIMEOUT_S`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp

from msp_access import audit
from msp_access.dependency import annotate_permissions, require, undeclared_routes
from msp_access.errors import ERROR_RESPONSES, ApiError, install_error_handlers
from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_plumbing.edge import reject_nul_bytes
from msp_plumbing.jsonlog import configure_logging
from msp_plumbing.runtime import ServiceRuntime, freeze_startup_heap


def create_app(
    *, runtime: ServiceRuntime, title: str, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # every route: a NUL byte in a path or query parameter is a 422 (msp_plumbing.edge)
    app = FastAPI(title=title, lifespan=lifespan, dependencies=[Depends(reject_nul_bytes)])
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        ok = runtime.healthy()
        return JSONResponse({"status": "ok" if ok else "failed"}, status_code=200 if ok else 503)

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], responses=ERROR_RESPONSES)
    async def metrics(
        _principal: Annotated[Principal, require(Permission.METRICS_READ)],
    ) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/audit", tags=["ops"], responses=ERROR_RESPONSES)
    async def audit_log(
        principal: Annotated[Principal, require(Permission.AUDIT_READ)],
        subject: Annotated[str | None, Query(max_length=256)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        customer_id: Annotated[str | None, Query(max_length=128)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The shared audit log of every service (newest first): who (from the verified
        credential) did what, to which object and customer."""
        if runtime.pool is None:
            raise ApiError(503, "starting up", headers={"Retry-After": "1"})
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise ApiError(
                    422, f"{name}: give a timezone offset", [(f"/query/{name}", "naive")]
                )
        records = await audit.query(
            runtime.pool,
            scope=principal.customer_scope(),
            schema=runtime.settings.access_schema_name,
            subject=subject,
            action=action,
            customer_id=customer_id,
            since=since,
            until=until,
            limit=limit,
        )
        return {"records": records}

    annotate_permissions(app.routes)
    missing = undeclared_routes(app.routes)
    for router in routers:
        annotate_permissions(router.routes)  # before inclusion: included routes are copies
        missing += undeclared_routes(router.routes)
        app.include_router(router, responses=ERROR_RESPONSES)
    if missing:  # default deny: a route nobody decided about never serves
        raise ValueError(
            f"{title}: routes without a permission (declare require(...)): {', '.join(missing)}"
        )
    return app


GRACEFUL_SHUTDOWN_S = 5
"""How long uvicorn lets requests in flight finish after SIGTERM (every request path
wait has a shorter deadline of its own)."""


def serve(app: ASGIApp, runtime: ServiceRuntime, **uvicorn_options: Any) -> None:
    """Run the app with uvicorn on the settings' host/port (blocking). Exits with code
    1 when a background loop died for good (after a bounded shutdown)."""
    s = runtime.settings
    configure_logging(
        s.service_name,
        s.log_level,
        event_level=s.event_log_level,
        probe_requests=s.log_probe_requests,
    )
    options: dict[str, Any] = {"log_config": None, **uvicorn_options}
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN_S)
    config = uvicorn.Config(app, host=s.http_host, port=s.http_port, **options)
    server = uvicorn.Server(config)
    exit_when_dead(runtime, server)
    freeze_startup_heap()
    server.run()
    if runtime.failure is not None:
        sys.exit(1)


def exit_when_dead(runtime: ServiceRuntime, server: uvicorn.Server) -> None:
    """When a supervised loop dies for good, uvicorn stops serving (as on SIGTERM)."""

    def stop() -> None:
        server.should_exit = True

    runtime.on_fatal = stop
