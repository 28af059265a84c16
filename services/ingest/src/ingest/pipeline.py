"""`Intake`: what every HTTP entry point runs, in this order — authenticate (401),
rate-limit (429), check tenancy (403), claim ids and publish (202 once Kafka acked).
Adapters and CloudEvents parsing only produce the list of events; nothing here knows
which tool sent them.

Idempotent re-post and its one window: the request's (customer, id) pairs are claimed
in `accepted_events` inside a transaction that stays open until Kafka acknowledged
every new event, then commits (one transaction per group of concurrent requests, see
`claims.GroupClaims`). A re-post finds the ids taken and publishes nothing
(202). If Kafka fails or times out, the request's claims are deleted before its group
commits: nothing claimed, 503, the client retries. If the process dies after Kafka's
ack but before the commit, the client never got its 202 and re-posts: that copy is
published again with the SAME id, which downstream consumers drop (they dedupe by
event id). Never a loss.

Every accepted event carries the request's trace (`tracing.REQUEST_TRACE`, from its
`traceparent` header) unless it came with its own, and each request that published or
re-posted events gets one `msp.events` log line listing their ids with the trace id
(`event_lines="event"`: one line per event instead; see `log_accepted`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from ingest import metrics
from ingest.apikeys import ApiKey, KeyCache
from ingest.claims import Claim, GroupClaims
from ingest.errors import ItemError, RequestRejected
from ingest.ratelimit import TokenBuckets, retry_after_header
from ingest.service import check_event_times, check_tenancy, send
from ingest.tracing import REQUEST_TRACE, traced
from msp_events import Envelope
from msp_events.bounds import EventTimeWindow
from msp_events.tracing import TraceContext
from msp_plumbing import eventlog

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
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        keys: KeyCache,
        buckets: TokenBuckets,
        namespace: str,
        produce_timeout_s: float,
        event_lines: str = "request",
        time_window: EventTimeWindow | None = None,
    ) -> None:
        # run `self.claims.run()` as background task(s) (the runtime does)
        self.claims = GroupClaims(
            pool=pool, produce=self.produce_group, wait_s=produce_timeout_s + 5
        )
        self.producer = producer
        self.keys = keys
        self.buckets = buckets
        self.namespace = namespace
        self.produce_timeout_s = produce_timeout_s
        self.event_lines = event_lines
        self.time_window = time_window or EventTimeWindow()

    async def authenticate(self, presented: str | None) -> ApiKey:
        if not presented:
            raise RequestRejected(
                401,
                "unauthorized",
                "no API key: send Authorization: Bearer <key> (or Basic, the key as password)",
                [ItemError("/headers/authorization", "missing")],
                {"WWW-Authenticate": "Bearer"},
            )
        key = await self.keys.resolve(presented)
        if key is None:
            raise RequestRejected(
                401,
                "unauthorized",
                "unknown or revoked API key",
                [ItemError("/headers/authorization", "not a valid key")],
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return key

    def admit(self, key: ApiKey, cost: int) -> None:
        if cost > self.buckets.burst:
            raise RequestRejected(
                413,
                "too_large",
                f"{cost} events exceed the per-request maximum of "
                f"{int(self.buckets.burst)} for this key",
                [ItemError("", "batch too large")],
            )
        wait = self.buckets.take(key.key_id, cost)
        if wait > 0:
            raise RequestRejected(
                429,
                "rate_limited",
                f"rate limit of key {key.key_id} exceeded; retry later",
                headers={"Retry-After": retry_after_header(wait)},
            )

    async def accept(self, *, key: ApiKey, events: Sequence[Envelope], endpoint: str) -> Accepted:
        check_tenancy(key=key, events=events)
        check_event_times(window=self.time_window, events=events, now=datetime.now(UTC))
        if not events:
            return Accepted([], [], [])
        trace = REQUEST_TRACE.get() or TraceContext.new()
        events = traced(events, trace)
        claim = self.claims.submit(events)  # claimed, produced and committed as a group
        try:
            await claim.committed
        except Exception as exc:  # Kafka, Postgres, timeouts: the input was fine, retry
            raise _unavailable(exc) from exc
        if not claim.succeeded():  # my produce, or that of an earlier copy, failed
            raise _unavailable(RuntimeError("not acknowledged by Kafka"))
        fresh_ids = {id(e) for e in claim.fresh}
        if eventlog.enabled():
            self.log_accepted(events, fresh_ids, trace=trace, endpoint=endpoint, source=key.source)
        for (etype, new), count in Counter((e.type, id(e) in fresh_ids) for e in events).items():
            metrics.accepted(new, key.source, endpoint, etype).inc(count)
        return Accepted(
            ids=[e.id for e in events],
            published=[e.id for e in claim.fresh],
            duplicates=[e.id for e in events if id(e) not in fresh_ids],
        )

    def log_accepted(
        self,
        events: Sequence[Envelope],
        fresh: set[int],
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
            for e in events:
                outcome = "accepted" if id(e) in fresh else "duplicate"
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
                "event_ids": [e.id for e in events if id(e) in fresh],
                "duplicate_ids": [e.id for e in events if id(e) not in fresh],
                "event_types": sorted({e.type for e in events}),
            },
        )

    async def produce_group(self, group: list[Claim]) -> None:
        """`GroupClaims`' produce step: send the new events of every claim of a group,
        wait (at most `produce_timeout_s`) for Kafka's acknowledgements, report each
        claim's outcome. One task for the whole group, not one per request."""
        started = time.perf_counter()
        sent: list[tuple[Claim, list[asyncio.Future[Any]]]] = []
        try:
            async with asyncio.timeout(self.produce_timeout_s):
                for claim in group:
                    if not claim.fresh:
                        claim.report(True)
                        continue
                    try:
                        futures = await send(
                            producer=self.producer, events=claim.fresh, namespace=self.namespace
                        )
                    except Exception as exc:  # e.g. too large: only this claim fails
                        log.warning("produce failed, nothing accepted: %r", exc)
                        claim.report(False)
                    else:
                        sent.append((claim, futures))
                acks = await asyncio.gather(
                    *(f for _, fs in sent for f in fs), return_exceptions=True
                )
        except TimeoutError:
            log.warning("Kafka did not acknowledge within %.1f s", self.produce_timeout_s)
            return  # the unreported claims count as failed
        done = 0
        for claim, futures in sent:
            outcome = acks[done : done + len(futures)]
            done += len(futures)
            failures = [a for a in outcome if isinstance(a, BaseException)]
            if failures:
                log.warning("produce failed, nothing accepted: %r", failures[0])
            claim.report(not failures)
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)


def _unavailable(exc: BaseException) -> RequestRejected:
    log.warning("publish failed, nothing accepted: %r", exc, exc_info=exc)
    return RequestRejected(
        503,
        "unavailable",
        "could not publish to Kafka or record the ids; nothing was accepted, retry",
        headers={"Retry-After": "1"},
    )
