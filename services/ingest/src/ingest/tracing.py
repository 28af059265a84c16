"""The trace a request belongs to, from its W3C `traceparent`/`tracestate` headers.

`RequestTrace` wraps the served app and sets `REQUEST_TRACE` for each HTTP request:
the caller's trace id with a span of ingest's own (the request's), or a new trace when
the request carries no valid `traceparent` (W3C: start a new one). `Intake.accept`
puts it on every event of the request that carries no trace context of its own, so
every route, present and future, passes the trace on without knowing about it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import replace

from starlette.types import ASGIApp, Receive, Scope, Send

from msp_events import Envelope
from msp_events.tracing import TraceContext, with_trace

REQUEST_TRACE: ContextVar[TraceContext | None] = ContextVar("request_trace", default=None)
"""Set per request by `RequestTrace` (uvicorn runs each request in its own task)."""


def request_trace(headers: Sequence[tuple[bytes, bytes]]) -> TraceContext:
    """The request's span: the caller's trace (if valid) with a new span id, else a new
    trace."""
    parent = state = None
    for name, value in headers:
        if name == b"traceparent":
            parent = value.decode("latin-1")
        elif name == b"tracestate":
            state = value.decode("latin-1")
    caller = TraceContext.parse(parent, state)
    if caller is None:
        return TraceContext.new()
    return replace(caller, span_id=secrets.token_hex(8))


class RequestTrace:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            REQUEST_TRACE.set(request_trace(scope["headers"]))
        await self.app(scope, receive, send)


def traced(events: Sequence[Envelope], trace: TraceContext) -> list[Envelope]:
    """`events` in `trace`; an event posted with its own `traceparent` keeps it."""
    return [e if e.traceparent is not None else with_trace(e, trace) for e in events]
