"""The incidents service's own metrics (`msp_incidents_*`, Prometheus naming)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from incidents.outputs import Effects
from msp_events.types.incidents import IncidentOpened
from msp_events.types.tickets import TicketCreated

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
    "msp_incidents_triage_batch_seconds",
    "Time to triage one batch: state loaded, rules applied, state, outputs and log written.",
)
SCHEDULER_PARKED = Counter(
    "msp_incidents_scheduler_parked_total",
    "Customers the wall-clock scheduler could not advance (logged with the error); they "
    "wait for their next event.",
)


class _Noise:
    alerts_in_incidents = 0
    incidents_opened = 0


NOISE = _Noise()
"""Since start: alerts that opened or joined an incident, and incidents opened."""


def count(effects: Iterable[Effects]) -> None:
    """Count what a committed (or about to be committed) batch produced."""
    for fx in effects:
        for row in fx.log:
            ALERTS.labels(row.outcome).inc()
            if row.outcome in ("opened", "correlated"):
                NOISE.alerts_in_incidents += 1
        for e in fx.events:
            if isinstance(e.data, IncidentOpened):
                OPENED.labels(e.data.priority).inc()
                NOISE.incidents_opened += 1
            elif isinstance(e.data, TicketCreated):
                PROACTIVE_TICKETS.inc()
        if fx.flapping:
            FLAPPING.inc(fx.flapping)
    if NOISE.incidents_opened:
        NOISE_RATIO.set(NOISE.alerts_in_incidents / NOISE.incidents_opened)
