"""The incidents service's own metrics (`msp_incidents_*`, Prometheus naming)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS = Counter(
    "msp_incidents_alerts_total",
    "Monitoring events triaged, by outcome (opened, correlated, suppressed, duplicate, "
    "not_monitored, tombstone, ...).",
    ["outcome"],
)
OPENED = Counter("msp_incidents_opened_total", "Incidents opened, by priority.", ["priority"])
PROACTIVE_TICKETS = Counter(
    "msp_incidents_proactive_tickets_total", "Proactive tickets opened for incidents."
)
FLAPPING = Counter("msp_incidents_flapping_total", "Alerts marked flapping.")
NOISE_RATIO = Gauge(
    "msp_incidents_alerts_per_incident",
    "Noise reduction since start: alerts that opened or joined an incident per incident.",
)
BATCH_SECONDS = Histogram(
    "msp_incidents_triage_batch_seconds", "Time to triage one batch, outbox write included."
)
