"""Billing's Prometheus metrics (prefix `msp_billing_`). They move inside the
transaction that records what they count, so a retried batch can count twice: they are
for dashboards, the Postgres state is the truth."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LINE_ITEMS = Counter(
    "msp_billing_line_items_total",
    "Line items recorded (including re-recordings after a reclassification).",
    ["classification"],
)
MINUTES = Counter(
    "msp_billing_minutes_worked_total",
    "Minutes of work recorded, by classification.",
    ["classification"],
)
AMOUNT = Counter(
    "msp_billing_amount_total",
    "Amount recorded (contract currency units, all currencies summed), by classification.",
    ["classification", "currency"],
)
HELD = Counter(
    "msp_billing_held_items_total",
    "Line items put on hold (scope creep or review), by rule.",
    ["rule"],
)
SCOPE_CREEP_MINUTES = Counter(
    "msp_billing_scope_creep_minutes_total", "Minutes of project work without a change order."
)
PENDING_ENTRIES = Counter(
    "msp_billing_entries_awaiting_contract_total",
    "Time entries received before the customer's contract (classified when it arrives).",
)
RECLASSIFIED = Counter(
    "msp_billing_reclassified_total", "Line items reclassified, by rule.", ["rule"]
)
INVOICE_RUNS = Counter(
    "msp_billing_invoice_runs_total", "Invoice runs requested (one per API call)."
)
INVOICES = Counter(
    "msp_billing_invoices_total",
    "Per-customer outcomes of invoice runs.",
    ["outcome"],  # issued / already_issued / nothing_to_invoice / failed
)
CREDIT_NOTES = Counter("msp_billing_credit_notes_total", "Credit notes issued.")
OVERAGE_MINUTES = Counter(
    "msp_billing_overage_minutes_total",
    "Minutes of covered work billed beyond the contracts' included hours (invoice runs).",
)
BUDGET_HELD_MINUTES = Counter(
    "msp_billing_budget_held_minutes_total",
    "Minutes of change-order work held beyond the change order's budget.",
)
MARGIN_RATIO = Gauge(
    "msp_billing_customer_margin_ratio",
    "Margin / revenue of the customer's latest month invoiced by this process (revenue "
    "less the technicians' cost of the month's work; GET /v1/reports/margin has the figures).",
    ["customer_id", "currency"],
)
