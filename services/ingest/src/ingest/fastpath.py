"""`POST /v1/events` as a bare ASGI handler wrapped around the FastAPI app.

Why: with one small event per request, FastAPI's per-request machinery (its
telemetry check and body-limit layer, the Starlette middleware stack, routing,
dependency solving, Request/Headers objects, JSONResponse) cost more CPU than our own
work (auth, validation, claim, produce); the profile is in the README. This wrapper
answers exactly that one route with the same code the FastAPI route runs
(`views.events_outcome`: the same auth, limits, validation, tenancy, claims and Kafka
acknowledgement) and hands every other request, and the lifespan, to FastAPI
unchanged. The route stays declared, so the OpenAPI document is unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from ingest.views import events_outcome

PATH = "/v1/events"
_JSON = (b"content-type", b"application/json")
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""JSONResponse's options, built once: `json.dumps` with options builds an encoder per
call, a quarter of the answer's cost for a single post."""


class EventsFastPath:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status, body, headers = await events_outcome(self.state, scope["headers"], receive)
        await respond(send, status, body, headers)


async def respond(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    """What JSONResponse sends (compact UTF-8 JSON), minus its object layers."""
    content = _ENCODER.encode(body).encode()
    raw = [_JSON, (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
