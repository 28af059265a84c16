"""W3C Trace Context on events: the CloudEvents distributed-tracing extension.

An event may carry `traceparent` (`00-<trace id>-<span id>-<flags>`) and `tracestate`.
Ingest sets them on every canonical event (from the request's `traceparent` header, or
a new trace); every event derived from another keeps the cause's trace id and
`tracestate` and gets a span id of its own (`continue_trace`). So the log lines of one
alert, its incident, its ticket and that ticket's SLA events share one trace id.

A derived event's span id is a hash of its trace id and its own event id, not random:
a replay re-derives the same event byte for byte, as the outbox and the consumers'
dedupe by id expect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from msp_events.envelope import Envelope
from msp_events.trusted import replace

_HEADER = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lower-case hex digits, not all zero
    span_id: str  # 16 lower-case hex digits, not all zero: the event's own span
    flags: str = "01"  # sampled
    state: str | None = None  # `tracestate`, passed on unchanged

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @classmethod
    def parse(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext | None:
        """A `traceparent` header or attribute; None when absent or invalid (W3C: the
        receiver then starts a new trace). A version above 00 is read as 00, its extra
        fields ignored, as the recommendation asks."""
        match = _HEADER.match((traceparent or "").strip().lower())
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest):
            return None
        if trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
            return None
        state = (tracestate or "").strip() or None
        return cls(trace_id, span_id, flags, state[:512] if state else None)

    @classmethod
    def new(cls) -> TraceContext:
        """The root of a new trace (a request that came without a `traceparent`)."""
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self, event_id: str) -> TraceContext:
        """The context of an event caused within this one: same trace, flags and state,
        a span id derived from the event's id (deterministic, never all zero)."""
        digest = hashlib.sha1(
            f"{self.trace_id}\x1f{event_id}".encode(), usedforsecurity=False
        ).hexdigest()
        span = digest[:16] if digest[:16] != _INVALID_SPAN_ID else digest[16:32]
        return TraceContext(self.trace_id, span, self.flags, self.state)


def trace_of(event: Envelope) -> TraceContext | None:
    """The trace context an event carries, if any."""
    return TraceContext.parse(event.traceparent, event.tracestate)


def trace_id_of(event: Envelope | None) -> str | None:
    """The trace id of an event (for log lines): the second field of `traceparent`."""
    parent = event.traceparent if event is not None else None
    return parent[3:35] if parent else None


def with_trace(event: Envelope, trace: TraceContext) -> Envelope:
    """`event` carrying `trace` (no re-validation: `trace` is valid by construction)."""
    return replace(event, traceparent=trace.traceparent, tracestate=trace.state)


def continue_trace(event: Envelope, cause: Envelope | TraceContext | None) -> Envelope:
    """`event` in the trace of what caused it: the cause's trace id and state, a span
    id of its own. Unchanged when it already carries a trace or the cause has none."""
    if event.traceparent is not None or cause is None:
        return event
    parent = cause if isinstance(cause, TraceContext) else trace_of(cause)
    if parent is None:
        return event
    return with_trace(event, parent.child(event.id))
