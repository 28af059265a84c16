"""The role → permission table: the only place that says what a role may do.

Default deny: a permission not listed for any of a principal's roles is refused (403),
and a role name this table does not know grants nothing. docs/operations.md prints the
same table (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Permission(StrEnum):
    EVENTS_PUBLISH = "events:publish"
    """Post events (ingest) for the principal's customers."""
    INCIDENTS_READ = "incidents:read"
    """Incident list and detail."""
    TRIAGE_READ = "triage:read"
    """The triage log (why each alert was grouped, suppressed or raised)."""
    QUEUE_READ = "queue:read"
    """The dispatch queue."""
    SLA_READ = "sla:read"
    """A ticket's SLA clocks and the monthly SLA report (JSON, CSV, HTML)."""
    INVOICES_READ = "invoices:read"
    """Invoices and the per-period ledger."""
    BILLING_REPORTS = "billing:reports"
    """Review queue, scope-creep and hours reports."""
    BILLING_WRITE = "billing:write"
    """Invoice runs, credit notes, reclassification."""
    KEYS_MANAGE = "keys:manage"
    """Create, list, revoke and rotate API keys."""
    OPS_REBUILD = "ops:rebuild"
    """Rebuild a service's state from the topics; replay dead letters."""
    DATA_EXPORT = "data:export"
    """Export a customer's data (exit strategy)."""
    AUDIT_READ = "audit:read"
    """The audit log of every mutating call."""
    METRICS_READ = "metrics:read"
    """Prometheus `/metrics`."""
    DELIVERIES_READ = "deliveries:read"
    """The notification delivery log (notify: what was sent to whom, each attempt)."""


P = Permission

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    "publisher": frozenset({P.EVENTS_PUBLISH}),
    "dispatcher": frozenset(
        {P.INCIDENTS_READ, P.TRIAGE_READ, P.QUEUE_READ, P.SLA_READ, P.DELIVERIES_READ}
    ),
    "billing": frozenset({P.INVOICES_READ, P.BILLING_REPORTS, P.BILLING_WRITE, P.SLA_READ}),
    "admin": frozenset(
        {
            P.KEYS_MANAGE,
            P.OPS_REBUILD,
            P.DATA_EXPORT,
            P.AUDIT_READ,
            P.METRICS_READ,
            P.DELIVERIES_READ,
        }
    ),
    "customer": frozenset(
        {P.SLA_READ, P.INCIDENTS_READ, P.INVOICES_READ, P.DATA_EXPORT, P.DELIVERIES_READ}
    ),
    "metrics": frozenset({P.METRICS_READ}),
}
"""Customer-scoped principals (any role) see only their customers' data; the
`customer` role is in addition read-only."""

ROLES = tuple(ROLE_PERMISSIONS)
OPERATOR_ROLES = ("admin", "dispatcher", "billing", "publisher")
"""What an operator credential holds (make run's key, the test fixtures' key)."""


def permissions_for(roles: Iterable[str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def role_table_markdown() -> str:
    """The table as Markdown (docs/operations.md carries it verbatim)."""
    lines = ["| role | permissions |", "|---|---|"]
    for role, granted in ROLE_PERMISSIONS.items():
        lines.append(f"| `{role}` | {', '.join(f'`{p}`' for p in sorted(granted))} |")
    return "\n".join(lines)
