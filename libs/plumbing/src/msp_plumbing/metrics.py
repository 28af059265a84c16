"""Prometheus metrics the plumbing exports for every service (names follow Prometheus
conventions: `_total` counters, `_seconds` histograms). Services add their own."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter(
    "msp_consumer_records_total",
    "Records consumed, by outcome (applied, duplicate, dead_lettered).",
    ["group", "topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "msp_consumer_lag_records",
    "Records between the consumer's position and the partition's high watermark.",
    ["group", "topic", "partition"],
)
BATCH_SECONDS = Histogram(
    "msp_consumer_batch_seconds",
    "Time to apply one consumed batch in one Postgres transaction.",
    ["group"],
)
CONSUMER_RETRIES = Counter(
    "msp_consumer_retries_total", "Batches retried after a transient error.", ["group"]
)
DEAD_LETTERS = Counter(
    "msp_deadletter_records_total",
    "Records sent to the dead-letter topic, by reason kind.",
    ["group", "topic", "reason"],
)
OUTBOX_PUBLISHED = Counter(
    "msp_outbox_published_total", "Outbox rows published to Kafka.", ["schema", "topic"]
)
OUTBOX_PENDING = Gauge("msp_outbox_pending", "Outbox rows not yet published.", ["schema"])
PRODUCE_SECONDS = Histogram(
    "msp_produce_latency_seconds",
    "Time from handing a relay batch to the producer until Kafka acknowledged it.",
    ["schema"],
)
OUTBOX_RECOVERED = Counter(
    "msp_outbox_recovered_total",
    "Rows found already on Kafka at relay start (sent before a crash, not yet marked).",
    ["schema"],
)
