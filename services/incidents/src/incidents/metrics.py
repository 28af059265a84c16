"""The incidents service's own metrics (`msp_incidents_*`, Prometheus naming)."""

from __future__ import annotations

import collections
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
    """Count what a committed (or about to be committed) batch produced: tallied here
    first, then one increment per label (a labelled child's lookup costs more than
    the tally)."""
    outcomes: collections.Counter[str] = collections.Counter()
    opened: collections.Counter[str] = collections.Counter()
    tickets = flapping = 0
    for fx in effects:
        outcomes.update(row.outcome for row in fx.log)
        for e in fx.events:
            if isinstance(e.data, IncidentOpened):
                opened[e.data.priority] += 1
            elif isinstance(e.data, TicketCreated):
                tickets += 1
        flapping += fx.flapping
    for outcome, n in outcomes.items():
        ALERTS.labels(outcome).inc(n)
    for priority, n in opened.items():
        OPENED.labels(priority).inc(n)
    if tickets:
        PROACTIVE_TICKETS.inc(tickets)
    if flapping:
        FLAPPING.inc(flapping)
    NOISE.alerts_in_incidents += outcomes["opened"] + outcomes["correlated"]
    NOISE.incidents_opened += sum(opened.values())
    if NOISE.incidents_opened:
        NOISE_RATIO.set(NOISE.alerts_in_incidents / NOISE.incidents_opened)
