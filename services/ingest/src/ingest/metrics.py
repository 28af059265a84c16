"""Prometheus metrics of the ingest service (`msp_ingest_` prefix). The raw-topic path
is also counted by the plumbing (`msp_consumer_records_total`,
`msp_deadletter_records_total`).

`source` is the caller's `Principal.source`: an API key's `source` or a token's client
(`oidc:<client id>`), both set by an admin, so the label stays bounded and never holds a
person's name."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

EVENTS_ACCEPTED = Counter(
    "msp_ingest_events_accepted_total",
    "Events published to a canonical topic, by caller source (an API key's source or "
    "oidc:<client id>), endpoint and event type.",
    ["source", "endpoint", "type"],
)
EVENTS_DUPLICATE = Counter(
    "msp_ingest_events_duplicate_total",
    "Events answered 202 but not published again (id already accepted).",
    ["source", "endpoint", "type"],
)
EVENTS_REJECTED = Counter(
    "msp_ingest_events_rejected_total",
    "Events refused, by key source (unknown when not authenticated), endpoint, type "
    "(unknown when unreadable) and reason.",
    ["source", "endpoint", "type", "reason"],
)
REQUESTS_REJECTED = Counter(
    "msp_ingest_requests_rejected_total",
    "Requests refused as a whole, by endpoint and reason (unauthorized, forbidden, "
    "too_large, unsupported_media_type, invalid, rate_limited, unavailable).",
    ["source", "endpoint", "reason"],
)
REQUEST_SECONDS = Histogram(
    "msp_ingest_request_seconds",
    "Time to answer an ingest request, by endpoint and status code.",
    ["endpoint", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PRODUCE_SECONDS = Histogram(
    "msp_ingest_produce_seconds",
    "Time from handing a request's events to the producer until Kafka acknowledged all.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CLAIM_SECONDS = Histogram(
    "msp_ingest_claim_seconds",
    "Waits of a request on its id claims: phase=claim (queued until its group's INSERT "
    "returned), phase=commit (own produce done until the group committed).",
    ["phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CLAIM_GROUP = Histogram(
    "msp_ingest_claim_group_requests",
    "Requests whose ids were claimed together (one INSERT, one produce hand-off, one "
    "UPDATE): how well concurrent requests coalesce.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
CLAIM_WAIT = CLAIM_SECONDS.labels("claim")
COMMIT_WAIT = CLAIM_SECONDS.labels("commit")
DOUBTS_RESOLVED = Counter(
    "msp_ingest_doubts_resolved_total",
    "In-doubt ids (Kafka's answer lost) settled by reading their partition: outcome="
    "published (it was there) or not_published (the claim was freed for a retry); "
    "abandoned: a claim whose INSERT committed after ingest had given up on it (nothing "
    "was produced for it), freed or taken over by a retry without reading the topic.",
    ["outcome"],
)
ALERTMANAGER_TRUNCATED = Counter(
    "msp_ingest_alertmanager_truncated_alerts_total",
    "Alerts Alertmanager left out of webhooks (truncatedAlerts; never read as resolved).",
    ["source"],
)

_REQUEST_CHILDREN: dict[tuple[str, int], Histogram] = {}


def request_seconds(endpoint: str, status: int) -> Histogram:
    """`REQUEST_SECONDS` child for (endpoint, status), looked up once (labels() costs
    more than the observation on the hot path)."""
    child = _REQUEST_CHILDREN.get((endpoint, status))
    if child is None:
        child = _REQUEST_CHILDREN[(endpoint, status)] = REQUEST_SECONDS.labels(
            endpoint, str(status)
        )
    return child


_ACCEPTED_CHILDREN: dict[tuple[bool, str, str, str], Any] = {}


def accepted(new: bool, source: str, endpoint: str, etype: str) -> Any:
    """`EVENTS_ACCEPTED` (new) or `EVENTS_DUPLICATE` child, looked up once."""
    labels = (new, source, endpoint, etype)
    child = _ACCEPTED_CHILDREN.get(labels)
    if child is None:
        counter = EVENTS_ACCEPTED if new else EVENTS_DUPLICATE
        child = _ACCEPTED_CHILDREN[labels] = counter.labels(source, endpoint, etype)
    return child
