"""sla-clock's Prometheus metrics (the plumbing adds consumer and outbox metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CLOCKS = Gauge(
    "msp_sla_clock_clocks",
    "Clocks by state (running, paused), priority and tier, refreshed by the scheduler.",
    ["state", "priority", "tier"],
)
COMPLIANCE = Gauge(
    "msp_sla_clock_compliance_ratio",
    "Share of the SLA clocks started in the last 30 days (scheduler time) that have not "
    "breached, by customer and priority; refreshed by the scheduler.",
    ["customer", "priority"],
)
CLOCKS_MEASURED = Gauge(
    "msp_sla_clock_recent_clocks",
    "SLA clocks started in the last 30 days (scheduler time), by customer, priority and "
    "outcome so far (breached, not_breached); the base of the compliance ratio.",
    ["customer", "priority", "outcome"],
)
WARNINGS = Counter(
    "msp_sla_clock_warnings_total", "SLA warnings emitted.", ["priority", "tier", "threshold"]
)
ESCALATIONS = Counter(
    "msp_sla_clock_escalations_total",
    "Escalation steps above 100 % of the target emitted (after a breach).",
    ["priority", "tier", "threshold"],
)
MONTHLY_REPORTS = Counter(
    "msp_sla_clock_monthly_reports_total", "Monthly SLA report events emitted."
)
BREACHES = Counter("msp_sla_clock_breaches_total", "SLA breaches emitted.", ["priority", "tier"])
BREACH_LAG = Histogram(
    "msp_sla_clock_emission_lag_seconds",
    "Scheduler commit time minus the deadline, per emitted warning, breach or escalation "
    "(wall clock).",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
DEADLINES_FIRED = Counter(
    "msp_sla_clock_deadlines_fired_total", "Deadlines claimed and fired by the scheduler.", ["kind"]
)
CORRECTIONS = Counter(
    "msp_sla_clock_corrections_total",
    "Outcome corrections emitted (late events disproved a published warning, breach, met "
    "or cancellation), by the kind of statement corrected.",
    ["statement"],
)
