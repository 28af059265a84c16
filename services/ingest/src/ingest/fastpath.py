"""`POST /v1/events` as a bare ASGI handler in front of FastAPI.

Why: with one small event per request, FastAPI's per-request machinery (routing,
dependency solving, its request telemetry, Request/Headers objects, the exception
middleware layers, JSONResponse) cost more CPU than our own work (auth, validation,
claim, produce). The profile is in the README. This middleware answers exactly that
one route with the same code the FastAPI route runs (`views.events_outcome`: the same
auth, limits, validation, tenancy, claims and Kafka acknowledgement) and passes every
other request through unchanged. The route stays declared, so the OpenAPI document
is unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.views import events_outcome

PATH = "/v1/events"
_JSON = (b"content-type", b"application/json")


class EventsFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status, body, headers = await events_outcome(scope["app"].state, scope["headers"], receive)
        await respond(send, status, body, headers)


async def respond(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    """What JSONResponse sends (compact UTF-8 JSON), minus its object layers."""
    content = json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
    raw = [_JSON, (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
