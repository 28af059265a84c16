"""The rules every entry point shares: reading a body, validating CloudEvents,
tenancy, claiming ids and publishing. Keyword-only functions; a function that takes a
connection runs inside the caller's transaction and never commits."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import asyncpg
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive

from ingest.adapters.common import escape, unescape
from ingest.errors import ItemError, Rejections, RequestRejected
from msp_access.principal import Principal
from msp_events import PAYLOADS, Envelope, EventValidationError, FieldError, parse_event
from msp_events.bounds import EventTimeWindow
from msp_events.registry import ANY_EVENT
from msp_events.topics import TOPICS

INBOUND_TYPES: frozenset[str] = frozenset(
    cls.event_type for topic in TOPICS if topic.raw for cls in topic.event_types
)
"""Types outsiders may publish: those of the raw topics (monitoring, tickets,
contracts, change orders). Incident, SLA and billing events are ours to make."""

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, allowed: Sequence[str]) -> str:
    return check_media_type(media_type(request), allowed)


def check_media_type(found: str, allowed: Sequence[str]) -> str:
    """`found` is the media type without parameters, lower case."""
    if found not in allowed:
        raise RequestRejected(
            415,
            "unsupported_media_type",
            f"content-type {found or '(none)'!r} is not accepted here; use one of "
            + ", ".join(allowed),
            [ItemError("/headers/content-type", "unsupported media type")],
        )
    return found


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body of a routed request: `receive_body` on its ASGI `receive`, so the routes
    and the /v1/events fast path share one reader and one 413 check."""
    declared = request.headers.get("content-length", "")
    return await receive_body(request.receive, declared=declared, limit=limit)


async def receive_body(receive: Receive, *, declared: str, limit: int) -> bytes:
    """The body, refusing (413) anything over `limit` bytes (`declared` is the
    Content-Length header) without reading it all; a client gone mid-body is a 400."""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise _disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return check_no_nul(chunks[0] if len(chunks) == 1 else b"".join(chunks))


NUL_ESCAPE = b"\\u0000"


def check_no_nul(body: bytes) -> bytes:
    """`body`, or a 422 naming every string (or key) that holds a NUL character: Postgres
    text and jsonb cannot store one, so downstream it would fail a consumer. A raw NUL
    byte is not JSON at all (the parser says so); the escape is found by one scan of
    the bytes, and only then is the document walked for the pointers."""
    if NUL_ESCAPE not in body:
        return body
    found = list(nul_pointers(parse_json(body)))
    if found:
        raise RequestRejected(
            422,
            "invalid",
            "a string holds a NUL character (\\u0000); nothing was published",
            [ItemError(pointer, "must not contain a NUL character (\\u0000)") for pointer in found],
        )
    return body  # an escaped backslash followed by "u0000": text, not a NUL


def nul_pointers(node: Any, pointer: str = "") -> Iterator[str]:
    """JSON pointers (RFC 6901) of the strings and keys in `node` holding a NUL."""
    if isinstance(node, str):
        if "\x00" in node:
            yield pointer
    elif isinstance(node, dict):
        for key, value in node.items():
            child = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            if "\x00" in key:
                yield child
            yield from nul_pointers(value, child)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from nul_pointers(value, f"{pointer}/{i}")


def _disconnected() -> RequestRejected:
    return RequestRejected(400, "invalid", "client disconnected mid-body")


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(
        413,
        "too_large",
        f"request body over the limit of {limit} bytes",
        [ItemError("", f"body larger than {limit} bytes")],
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting
        message = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply"
        raise RequestRejected(
            422,
            "invalid",
            "the body is not valid JSON",
            [ItemError("", f"invalid JSON: {message}")],
        ) from None


def count_events(document: Any, *, batch: bool, max_events: int) -> int:
    """How many events a request claims to carry (its rate-limit cost); 413 over the
    per-request maximum, before anything is validated or charged."""
    count = len(document) if batch and isinstance(document, list) else 1
    if count > max_events:
        raise RequestRejected(
            413,
            "too_large",
            f"more than {max_events} events in one batch",
            [ItemError("", f"{count} events, limit {max_events}")],
        )
    return count


def parse_single_fast(body: bytes) -> Envelope | None:
    """One valid inbound event straight from the bytes (pydantic parses the JSON while
    validating: one pass instead of `json.loads` + `parse_event`, the same validator
    the raw-topic consumer uses). None when that does not succeed, or when the body
    holds NaN/Infinity (which `parse_json` refuses and pydantic might not): the caller
    then runs the full path (`parse_json` + `parse_cloudevents`), which reports every
    failing field."""
    if b"NaN" in body or b"Infinity" in body:
        return None
    try:
        event: Envelope = ANY_EVENT.validate_json(body)
    except ValidationError:
        return None
    return event if event.type in INBOUND_TYPES else None


def parse_cloudevents(document: Any, *, batch: bool, max_events: int) -> list[Envelope]:
    """Validate one event (an object) or a batch (an array), all or nothing: every
    failing item is reported (its index and JSON pointers) and none is accepted."""
    if batch and not isinstance(document, list):
        raise RequestRejected(
            422,
            "invalid",
            "a batch must be a JSON array",
            [ItemError("", "expected an array of events")],
        )
    if not batch and not isinstance(document, dict):
        raise RequestRejected(
            422,
            "invalid",
            "an event must be a JSON object",
            [ItemError("", "expected a JSON object")],
        )
    items = document if batch else [document]
    if len(items) > max_events:
        raise RequestRejected(
            413,
            "too_large",
            f"more than {max_events} events in one batch",
            [ItemError("", f"{len(items)} events, limit {max_events}")],
        )
    rejections = Rejections()
    events: list[Envelope] = []
    for i, item in enumerate(items):
        index = i if batch else None
        prefix = f"/{i}" if batch else ""
        try:
            event = parse_event(item)
        except EventValidationError as exc:
            rejections.add(exc.errors, index=index, prefix=prefix, event_type=_type_of(item))
            continue
        if event.type not in INBOUND_TYPES:
            rejections.add(
                [FieldError("/type", f"{event.type!r} is not accepted from outside ingest")],
                index=index,
                prefix=prefix,
                event_type=event.type,
            )
            continue
        events.append(event)
    rejections.raise_if_any("no event was accepted: fix the listed items and re-send all")
    return events


CE_HEADER = b"ce-"


def binary_attributes(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str] | None:
    """The attributes of a CloudEvents HTTP binary-mode request: each `ce-<name>` header
    (raw ASGI headers, lower-case names) as attribute `<name>`, its value UTF-8 and
    percent-decoded (HTTP binding 3.1.3). None when there is no `ce-` header (not binary
    mode). The first of repeated headers counts. A value that is not UTF-8 is a 422
    naming its header."""
    attributes: dict[str, str] = {}
    for name, raw in headers:
        if not name.startswith(CE_HEADER):
            continue
        attribute = name[len(CE_HEADER) :].decode("latin-1")
        if attribute in attributes:
            continue
        try:
            attributes[attribute] = unquote(raw.decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            raise RequestRejected(
                422,
                "invalid",
                "invalid CloudEvents attribute header",
                [ItemError(_header_pointer(attribute), "not UTF-8 (percent-encoded or raw)")],
            ) from None
    return attributes or None


def parse_binary(attributes: dict[str, str], body: bytes) -> Envelope:
    """One event in CloudEvents HTTP binary content mode: the attributes from the `ce-`
    headers, the data is the body (JSON; its media type, the Content-Type, is the event's
    `datacontenttype`). Every failing field is named: an attribute by its header
    (`/headers/ce-type`), a data field by its pointer into the body (`/priority`)."""
    for reserved, use in (("data", "the body"), ("datacontenttype", "Content-Type")):
        if reserved in attributes:
            raise RequestRejected(
                422,
                "invalid",
                "invalid binary-mode CloudEvent",
                [ItemError(_header_pointer(reserved), f"binary mode carries it in {use}")],
            )
    etype = attributes.get("type", "")
    if etype in PAYLOADS and etype not in INBOUND_TYPES:  # before the data: the real cause
        raise RequestRejected(
            422,
            "invalid",
            "invalid binary-mode CloudEvent: nothing was accepted",
            [ItemError("/headers/ce-type", f"{etype!r} is not accepted from outside ingest")],
            rejected_types=[etype],
        )
    document = {**attributes, "datacontenttype": JSON, "data": parse_json(body)}
    try:
        event = parse_event(document)
    except EventValidationError as exc:
        raise RequestRejected(
            422,
            "invalid",
            "invalid binary-mode CloudEvent: nothing was accepted",
            [ItemError(e.pointer, e.message) for e in map(_binary_error, exc.errors)],
            rejected_types=[_type_of(document)],
        ) from None
    assert event.type in INBOUND_TYPES  # checked above; parse_event knows no other types
    return event


def _header_pointer(attribute: str) -> str:
    return "/headers/" + escape(f"ce-{attribute}")


def _binary_error(error: FieldError) -> FieldError:
    """A structured-mode pointer (`/type`, `/data/priority`) as binary mode sent it."""
    if error.pointer == "/data" or error.pointer.startswith("/data/"):
        return FieldError(error.pointer[len("/data") :], error.message)
    attribute = error.pointer.split("/")[1] if error.pointer else ""
    if not attribute:
        return error
    name = unescape(attribute)
    return FieldError(
        _header_pointer(name), f"{error.message} (the ce-{name} header of binary mode)"
    )


def _type_of(item: Any) -> str:
    """A known event type named by an invalid item (metric label), else "unknown"."""
    value = item.get("type") if isinstance(item, dict) else None
    return value if isinstance(value, str) and value in PAYLOADS else "unknown"


def check_event_times(
    *, window: EventTimeWindow, events: Sequence[Envelope], now: datetime
) -> None:
    """422, naming each event whose `time` is outside the accepted window (nothing of
    the request is published)."""
    outside = [
        ItemError("/time", reason, i)
        for i, e in enumerate(events)
        if (reason := window.violation(e.time, now=now)) is not None
    ]
    if outside:
        raise RequestRejected(
            422,
            "invalid",
            "an event's time is outside the accepted window; nothing was published",
            outside,
            rejected_types=[e.type for e in events],
        )


def check_tenancy(*, principal: Principal, events: Sequence[Envelope]) -> None:
    """403, naming each offending item, if any event is for a customer outside the
    caller's (its API key's or its token's customers)."""
    outside = [
        ItemError(
            "/customerid",
            f"{principal.credential_id} may not post for {e.customer_id!r}",
            i,
        )
        for i, e in enumerate(events)
        if not principal.sees(e.customer_id)
    ]
    if outside:
        raise RequestRejected(
            403,
            "forbidden",
            "an event is for a customer outside the credential's set; nothing was published",
            outside,
            rejected_types=[e.type for e in events],
        )


async def claim_ids(*, conn: asyncpg.Connection, events: Sequence[Envelope]) -> list[Envelope]:
    """Claim each (customer, id) in `accepted_events`; returns the events not accepted
    before, first copy only. The claim's row lock is held until the caller's transaction
    ends, so a concurrent re-post of the same id waits and then sees it taken."""
    if len(events) == 1:
        e = events[0]
        row = await conn.fetchval(
            "INSERT INTO accepted_events (customer_id, event_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true",
            e.customer_id,
            e.id,
        )
        return [e] if row else []
    rows = await conn.fetch(
        """INSERT INTO accepted_events (customer_id, event_id)
           SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT DO NOTHING RETURNING customer_id, event_id""",
        [e.customer_id for e in events],
        [e.id for e in events],
    )
    fresh = {(r["customer_id"], r["event_id"]) for r in rows}
    out = []
    for e in events:
        if (e.customer_id, e.id) in fresh:
            fresh.discard((e.customer_id, e.id))
            out.append(e)
    return out
