"""notify's Prometheus metrics (the plumbing adds consumer and outbox metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "msp_notify_deliveries_total",
    "Delivery attempts by channel and the status they left the delivery in: sent, "
    "retrying (failed, tried again later) or dead (failed for good, dead-lettered).",
    ["channel", "status"],
)
DELIVERY_SECONDS = Histogram(
    "msp_notify_delivery_seconds",
    "From when a delivery was due (its event's time, or the end of its quiet hours or "
    "group window) to the receiver's acceptance, per channel (wall clock).",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
RETRY_BACKLOG = Gauge(
    "msp_notify_retry_backlog",
    "Deliveries waiting to be tried again after a failed attempt.",
)
NOTICES = Counter(
    "msp_notify_notices_total",
    "Deliveries planned from consumed events, by kind of notice.",
    ["kind"],
)
PRUNED = Counter(
    "msp_notify_deliveries_pruned_total",
    "Sent and dead deliveries deleted (with their attempts) after the retention period.",
)
