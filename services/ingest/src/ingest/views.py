"""Thin routes: read, hand to the adapter or CloudEvents parser, then to `Intake`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive

from ingest import metrics
from ingest.adapters import alertmanager, pagerduty
from ingest.errors import ItemError, RequestRejected
from ingest.models import ERRORS, AcceptedRead, PagerDutyRead
from ingest.pipeline import Intake
from ingest.service import (
    BATCH,
    JSON,
    SINGLE,
    binary_attributes,
    check_media_type,
    count_events,
    parse_binary,
    parse_cloudevents,
    parse_json,
    parse_single_fast,
    read_body,
    receive_body,
    require_media_type,
)
from msp_access.dependency import declared
from msp_access.roles import Permission
from msp_events import EventValidationError

router = APIRouter(prefix="/v1", tags=["ingest"])
pagerduty_router = APIRouter(tags=["ingest"])
"""PagerDuty's own path (`<base>/v2/enqueue`), for clients whose base URL is set to
ingest: the PyPI `pagerduty`/`pdpyras` libraries, Alertmanager's `pagerduty_configs`."""

_BINARY_HEADERS = ("specversion", "id", "source", "type", "time", "subject", "customerid")
_BODY = {
    "parameters": [
        {
            "name": f"ce-{name}",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": f"Binary content mode: the event's `{name}` attribute",
        }
        for name in _BINARY_HEADERS
    ],
    "requestBody": {
        "required": True,
        "content": {
            SINGLE: {"schema": {"type": "object"}},
            BATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
            JSON: {"schema": {}},
        },
    },
}


def _intake(request: Request) -> Intake:
    return _intake_of(request.app.state)


def _intake_of(state: Any) -> Intake:
    intake: Intake | None = getattr(state.runtime, "intake", None)
    if intake is None:
        raise RequestRejected(503, "unavailable", "starting up", headers={"Retry-After": "1"})
    return intake


def _invalid(exc: EventValidationError) -> RequestRejected:
    return RequestRejected(
        422, "invalid", "invalid payload", [ItemError(e.pointer, e.message) for e in exc.errors]
    )


Outcome = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers


async def outcome(
    endpoint: str,
    work: Callable[[dict[str, str]], Awaitable[tuple[int, dict[str, Any]]]],
    render_error: Callable[[RequestRejected], tuple[int, dict[str, Any]]] | None = None,
) -> Outcome:
    """Runs `work`, times it, counts the outcome. `work` fills `seen["source"]` once the
    key is known, so rejections are counted per source."""
    started = time.perf_counter()
    seen = {"source": "unknown"}
    headers: dict[str, str] = {}
    try:
        status, body = await work(seen)
    except RequestRejected as exc:
        metrics.REQUESTS_REJECTED.labels(seen["source"], endpoint, exc.reason).inc()
        for etype in exc.rejected_types or ["unknown"]:
            metrics.EVENTS_REJECTED.labels(seen["source"], endpoint, etype, exc.reason).inc()
        status, body = render_error(exc) if render_error else (exc.status, exc.body())
        headers = exc.headers
    metrics.request_seconds(endpoint, status).observe(time.perf_counter() - started)
    return status, body, headers


async def _answer(
    endpoint: str,
    work: Callable[[dict[str, str]], Awaitable[tuple[int, dict[str, Any]]]],
    render_error: Callable[[RequestRejected], tuple[int, dict[str, Any]]] | None = None,
) -> JSONResponse:
    status, body, headers = await outcome(endpoint, work, render_error)
    return JSONResponse(body, status_code=status, headers=headers)


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


def credentials(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str | None]:
    """The credential headers of a request (raw ASGI headers, lower-case names), for
    `Intake.authenticate` (`msp_access.dependency.presented_credential` reads them):
    `Authorization: Bearer <token or key>`, `Authorization: Basic` with the key as the
    password and any user name (what Alertmanager's `basic_auth`, Grafana contact points
    and many RMM webhooks send), or `X-API-Key: <key>`."""
    return {
        "authorization": _header(headers, b"authorization") or None,
        "api_key": _header(headers, b"x-api-key") or None,
    }


PUBLISH = declared(Permission.EVENTS_PUBLISH, basic=True)
"""The permission every ingest route declares (it authenticates in `Intake`)."""


async def events_outcome(
    state: Any, headers: Sequence[tuple[bytes, bytes]], receive: Receive
) -> Outcome:
    """`POST /v1/events`, shared by the route and the ASGI fast path (`fastpath.py`).
    `state` is the app's state, `headers` the raw ASGI request headers."""

    async def work(seen: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intake = _intake_of(state)
        key = await intake.authenticate(**credentials(headers))
        seen["source"] = key.source
        found = _header(headers, b"content-type").split(";", 1)[0].strip().lower()
        # The media type decides structured/batch mode; otherwise `ce-` headers mean
        # binary mode, whose body is the event's JSON data (Content-Type may be absent).
        binary = None if found in (SINGLE, BATCH) else binary_attributes(headers)
        if binary is not None:
            check_media_type(found or JSON, (JSON,))
        kind = check_media_type(found, (SINGLE, BATCH, JSON)) if binary is None else JSON
        body = await receive_body(
            receive, declared=_header(headers, b"content-length"), limit=state.max_body_bytes
        )
        event = None if kind == BATCH or binary is not None else parse_single_fast(body)
        batch = False
        if event is not None:  # the common case: one valid event, parsed once
            intake.admit(key, 1)
            events = [event]
        elif binary is not None:
            intake.admit(key, 1)
            events = [parse_binary(binary, body)]
        else:  # batches and anything invalid: full parse, every failing field reported
            document = parse_json(body)
            batch = kind == BATCH or (kind == JSON and isinstance(document, list))
            max_events = state.max_batch_events
            intake.admit(key, count_events(document, batch=batch, max_events=max_events))
            events = parse_cloudevents(document, batch=batch, max_events=max_events)
        accepted = await intake.accept(
            key=key, events=events, endpoint="events", item_pointer="/{i}" if batch else ""
        )
        return 202, {
            "status": "accepted",
            "ids": accepted.ids,
            "published": accepted.published,
            "duplicates": accepted.duplicates,
        }

    return await outcome("events", work)


@router.post(
    "/events",
    status_code=202,
    response_model=AcceptedRead,
    responses=ERRORS,
    openapi_extra=_BODY,
    dependencies=[PUBLISH],
)
async def post_events(request: Request) -> JSONResponse:
    """CloudEvents over HTTP. Structured mode: one event (`application/cloudevents+json`,
    or `application/json` with an object) or a batch (`application/cloudevents-batch+json`,
    or `application/json` with an array). Binary mode: the attributes as `ce-*` headers
    (`ce-id`, `ce-type`, `ce-source`, `ce-time`, `ce-customerid`, ...) and the event's
    data as the `application/json` body. All or nothing: 202 only when every event is
    valid, for the key's customers, and acknowledged by Kafka."""
    # Served by `fastpath.EventsFastPath` in the app; this route documents it and
    # answers the same way when the router is mounted without the middleware.
    status, body, headers = await events_outcome(
        request.app.state, request.scope["headers"], request.receive
    )
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/integrations/alertmanager",
    status_code=202,
    response_model=AcceptedRead,
    responses=ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": {}}}}},
    dependencies=[PUBLISH],
)
async def post_alertmanager(request: Request) -> JSONResponse:
    """The Alertmanager webhook (`webhook_configs`, payload version 4) as sent, with the
    key as `http_config.authorization.credentials`. One monitoring event per alert."""

    async def work(seen: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intake = _intake(request)
        key = await intake.authenticate(**credentials(request.scope["headers"]))
        seen["source"] = key.source
        require_media_type(request, (JSON,))
        body = await read_body(request, limit=request.app.state.max_body_bytes)
        hook = alertmanager.validate_json(body)  # the common case: valid, one pass
        try:
            if hook is not None:
                intake.admit(key, len(hook.alerts))
                events = alertmanager.events_of(
                    hook, labels=key.labels, default_customer=key.sole_customer
                )
            else:  # anything invalid: the full path, every failing field named
                document = parse_json(body)
                alerts = document.get("alerts") if isinstance(document, dict) else None
                intake.admit(key, len(alerts) if isinstance(alerts, list) else 1)
                hook, events = alertmanager.parse(
                    document, labels=key.labels, default_customer=key.sole_customer
                )
        except EventValidationError as exc:
            raise _invalid(exc) from None
        accepted = await intake.accept(
            key=key, events=events, endpoint="alertmanager", item_pointer="/alerts/{i}"
        )
        if hook.truncatedAlerts:
            metrics.ALERTMANAGER_TRUNCATED.labels(key.source).inc(hook.truncatedAlerts)
        return 202, {
            "status": "accepted",
            "ids": accepted.ids,
            "published": accepted.published,
            "duplicates": accepted.duplicates,
            "truncated_alerts": hook.truncatedAlerts,
        }

    return await _answer("alertmanager", work)


_PD_STATUS = {
    401: "unauthorized",
    403: "forbidden",
    413: "request too large",
    415: "unsupported media type",
    422: "invalid event",
    429: "throttle event",
    503: "unavailable",
}


def _pagerduty_error(exc: RequestRejected) -> tuple[int, dict[str, Any]]:
    """PagerDuty's shapes; every invalid event is a 400 there, so it is here."""
    if exc.status == 429:
        message = "Requests for this service are arriving too quickly. Please retry later."
    elif exc.status == 422:
        message = "Event object is invalid"
    else:
        message = exc.message
    return 400 if exc.status == 422 else exc.status, {
        "status": _PD_STATUS.get(exc.status, "error"),
        "message": message,
        "errors": [f"{e.pointer or '/'}: {e.message}" for e in exc.errors],
    }


_PAGERDUTY_ROUTE: dict[str, Any] = {
    "status_code": 202,
    "response_model": PagerDutyRead,
    "responses": {
        400: {"model": PagerDutyRead},
        401: {"model": PagerDutyRead},
        429: {"model": PagerDutyRead},
    },
    "openapi_extra": {"requestBody": {"required": True, "content": {JSON: {"schema": {}}}}},
    "dependencies": [PUBLISH],
}


@pagerduty_router.post("/v2/enqueue", **_PAGERDUTY_ROUTE)
@router.post("/integrations/pagerduty", **_PAGERDUTY_ROUTE)
async def post_pagerduty(request: Request) -> JSONResponse:
    """PagerDuty Events API v2 (v1 `service_key` bodies too), at our path and at
    PagerDuty's (`/v2/enqueue`). The API key goes in `routing_key` (or the Authorization
    header). Answers like PagerDuty: 202 `{status, message, dedup_key}`, 400
    `{status: "invalid event", errors}`, 429."""

    async def work(seen: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intake = _intake(request)
        require_media_type(request, (JSON,))
        document = parse_json(await read_body(request, limit=request.app.state.max_body_bytes))
        presented = credentials(request.scope["headers"])
        if not any(presented.values()) and isinstance(document, dict):
            body_key = document.get("routing_key", document.get("service_key"))
            presented["api_key"] = body_key if isinstance(body_key, str) else None
        key = await intake.authenticate(**presented)
        seen["source"] = key.source
        intake.admit(key, 1)
        try:
            event = pagerduty.validate(document)
            events, dedup_key = pagerduty.parse(
                event,
                labels=key.labels,
                default_customer=key.sole_customer,
                received_at=datetime.now(UTC),
            )
        except EventValidationError as exc:
            raise _invalid(exc) from None
        await intake.accept(key=key, events=events, endpoint="pagerduty")
        body: dict[str, Any] = {
            "status": "success",
            "message": "Event processed",
            "dedup_key": dedup_key,
        }
        if pagerduty.is_v1(document):
            body["incident_key"] = dedup_key
        return 202, body

    return await _answer("pagerduty", work, _pagerduty_error)
