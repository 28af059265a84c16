"""`Intake`: what every HTTP entry point runs, in this order — authenticate (401: an
API key or an OIDC token, through `msp_access`), the `events:publish` permission
(403), rate-limit (429), check tenancy (403), claim ids and publish (202 once Kafka acked).
Adapters and CloudEvents parsing only produce the list of events; nothing here knows
which tool sent them.

Every wait has a deadline and every 503 says what happened (with `Retry-After`):
* Postgres down (the key lookup, the claim): 503 "nothing was accepted".
* Kafka refused or never got the events: 503 "nothing was accepted".
* Kafka's answer did not come (timeout, connection lost after the send), or an
  earlier copy's is still unknown: 503 "outcome unknown: retry with the same ids".
  A retry never publishes an id twice (`claims.py` has the rule).
* The request's whole wait is bounded by `accept_timeout_s`: past it, the same
  "outcome unknown" answer (the claim resolves on its own).

Every accepted event carries the request's trace (`tracing.REQUEST_TRACE`, from its
`traceparent` header) unless it came with its own, and each request that published or
re-posted events gets one `msp.events` log line listing their ids with the trace id
(`event_lines="event"`: one line per event instead; see `log_accepted`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest import metrics
from ingest.claims import GroupClaims, warn_throttled
from ingest.errors import ItemError, RequestRejected
from ingest.service import check_event_times, check_tenancy
from ingest.tracing import REQUEST_TRACE, traced
from msp_access.dependency import Authenticator
from msp_access.errors import ApiError
from msp_access.principal import Principal
from msp_access.ratelimit import TokenBuckets, retry_after_header
from msp_access.roles import Permission
from msp_events import Envelope
from msp_events.bounds import EventTimeWindow
from msp_events.serde import encode_value
from msp_events.tracing import TraceContext
from msp_plumbing import eventlog
from msp_plumbing.supervise import is_transient, within

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    ids: list[str]  # every event of the request, in order
    published: list[str]  # those new to the canonical topics
    duplicates: list[str]  # already accepted before: answered 202, not re-published


class Intake:
    def __init__(
        self,
        *,
        claims: GroupClaims,
        authenticator: Authenticator,
        buckets: TokenBuckets,
        accept_timeout_s: float,
        max_event_bytes: int,
        event_lines: str = "request",
        time_window: EventTimeWindow | None = None,
    ) -> None:
        self.claims = claims  # its `run()` runs as supervised background tasks
        self.authenticator = authenticator
        self.buckets = buckets
        self.accept_timeout_s = accept_timeout_s
        self.max_event_bytes = max_event_bytes
        self.event_lines = event_lines
        self.time_window = time_window or EventTimeWindow()

    async def authenticate(self, *, authorization: str | None, api_key: str | None) -> Principal:
        """The caller (`Authorization: Bearer|Basic`, or `X-API-Key`), who must hold
        `events:publish`."""
        try:
            principal = await within(
                self.authenticator.authenticate(authorization=authorization, api_key=api_key),
                self.accept_timeout_s,
            )
        except ApiError as exc:
            raise RequestRejected(
                exc.status,
                "unauthorized",
                exc.message,
                [ItemError(p, m) for p, m in exc.errors],
                exc.headers,
            ) from None
        except Exception as exc:  # Postgres down or frozen: we cannot tell, retry
            if not is_transient(exc):
                raise
            warn_throttled(f"auth:{type(exc).__name__}", "key lookup failed: %r", exc)
            raise _unavailable(NOTHING_ACCEPTED) from None
        if not principal.can(Permission.EVENTS_PUBLISH):
            raise RequestRejected(
                403,
                "forbidden",
                f"{principal.display_name} may not post events: it needs events:publish",
                [ItemError("/headers/authorization", "missing permission events:publish")],
            )
        return principal

    def admit(self, key: Principal, cost: int) -> None:
        if cost > self.buckets.burst:
            raise RequestRejected(
                413,
                "too_large",
                f"{cost} events exceed the per-request maximum of "
                f"{int(self.buckets.burst)} for this key",
                [ItemError("", "batch too large")],
            )
        wait = self.buckets.take(key.credential_id, cost)
        if wait > 0:
            raise RequestRejected(
                429,
                "rate_limited",
                f"rate limit of {key.credential_id} exceeded; retry later",
                headers={"Retry-After": retry_after_header(wait)},
            )

    def encode(self, events: Sequence[Envelope], *, item_pointer: str) -> list[bytes]:
        """Each event as it goes to Kafka; 413 naming every event over
        `max_event_bytes` (under the topics' record limit), before anything is claimed.
        `item_pointer` is the JSON pointer of item {i} in the request ("" for one)."""
        values = [encode_value(e) for e in events]
        too_big = [
            ItemError(
                item_pointer.format(i=i),
                f"event {e.id!r} is {len(v)} bytes encoded; the limit is {self.max_event_bytes}",
                i if item_pointer else None,
            )
            for i, (e, v) in enumerate(zip(events, values, strict=True))
            if len(v) > self.max_event_bytes
        ]
        if too_big:
            raise RequestRejected(
                413,
                "too_large",
                "an event is larger than a Kafka record may be; nothing was published",
                too_big,
                rejected_types=[e.type for e in events],
            )
        return values

    async def accept(
        self, *, key: Principal, events: Sequence[Envelope], endpoint: str, item_pointer: str = ""
    ) -> Accepted:
        check_tenancy(principal=key, events=events)
        check_event_times(window=self.time_window, events=events, now=datetime.now(UTC))
        if not events:
            return Accepted([], [], [])
        trace = REQUEST_TRACE.get() or TraceContext.new()
        events = traced(events, trace)
        claim = self.claims.submit(events, self.encode(events, item_pointer=item_pointer))
        try:
            async with asyncio.timeout(self.accept_timeout_s):
                await claim.wait()
        except TimeoutError:
            raise _unavailable(OUTCOME_UNKNOWN) from None
        outcome = claim.outcome()
        if outcome != "published":
            raise _unavailable(OUTCOME_UNKNOWN if outcome == "unknown" else NOTHING_ACCEPTED)
        fresh = set(claim.fresh)
        if eventlog.enabled():
            self.log_accepted(events, fresh, trace=trace, endpoint=endpoint, source=key.source)
        for (etype, new), count in Counter(
            (e.type, i in fresh) for i, e in enumerate(events)
        ).items():
            metrics.accepted(new, key.source, endpoint, etype).inc(count)
        return Accepted(
            ids=[e.id for e in events],
            published=[events[i].id for i in claim.fresh],
            duplicates=[e.id for i, e in enumerate(events) if i not in fresh],
        )

    def log_accepted(
        self,
        events: Sequence[Envelope],
        fresh: set[int],  # indexes into `events`
        *,
        trace: TraceContext,
        endpoint: str,
        source: str,
    ) -> None:
        """Per request by default: a per-event line cost ~35-70 us of CPU (measured
        with this JSON logger on the 2-core machine), as much as ingest's whole work
        per event in a batch of 500, so a batch gets one line with every id."""
        group = f"ingest.{endpoint}"
        if self.event_lines == "event":
            for i, e in enumerate(events):
                outcome = "accepted" if i in fresh else "duplicate"
                eventlog.handled(e, outcome=outcome, group=group, source=source)
            return
        eventlog.EVENTS.info(
            "request accepted",
            extra={
                "outcome": "accepted",
                "group": group,
                "source": source,
                "trace_id": trace.trace_id,
                "customer_ids": sorted({e.customer_id for e in events}),
                "event_ids": [e.id for i, e in enumerate(events) if i in fresh],
                "duplicate_ids": [e.id for i, e in enumerate(events) if i not in fresh],
                "event_types": sorted({e.type for e in events}),
            },
        )


NOTHING_ACCEPTED = "could not publish to Kafka or record the ids; nothing was accepted, retry"
OUTCOME_UNKNOWN = (
    "outcome unknown: Kafka's answer for some events did not arrive; retry with the same "
    "ids (an id is never published twice)"
)


def _unavailable(message: str) -> RequestRejected:
    return RequestRejected(503, "unavailable", message, headers={"Retry-After": "1"})
