"""The topic registry: the single source of truth for every Kafka topic.

Kafka topics, Strimzi `KafkaTopic` manifests and the AsyncAPI document are generated
from `TOPICS`. Every domain topic is keyed by `customer_id` and has the same partition
count (`PARTITIONS`), so one service instance sees all of a customer's contracts,
alerts, tickets and work in order (DESIGN.md decision 3).

The contracts topic is compacted: each record carries the customer's *whole* contract
version history, so compaction (which keeps only the latest record per key) never loses
a version that SLA targets or proration still need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from msp_events.base import EventData
from msp_events.types import (
    billing,
    change_orders,
    contracts,
    deadletter,
    finance,
    incidents,
    inventory,
    monitoring,
    sla,
    tickets,
)

PARTITIONS = 6
"""Partition count of every co-partitioned topic. Changing it re-maps customers to
partitions: only with a planned migration. Max consumer instances per group = this."""

DAY_MS = 24 * 3600 * 1000

KeyKind = Literal["customer_id", "original_key"]
Role = Literal[
    "external", "ingest", "incidents", "sla-clock", "billing", "notify", "finance", "grafana"
]


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    event_types: tuple[type[EventData], ...]
    producers: tuple[Role, ...]
    consumers: tuple[Role, ...]
    key: KeyKind = "customer_id"
    partitions: int = PARTITIONS
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention_ms: int = 30 * DAY_MS  # -1 = forever
    raw: bool = False
    """Raw topics take unvalidated input from external publishers; ingest validates."""
    extra_config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        config = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        config.update(self.extra_config)
        return config

    def named(self, namespace: str = "") -> str:
        """The topic's real name under a namespace (tests use a unique namespace)."""
        return f"{namespace}{self.name}"


MONITORING = Topic(
    "msp.monitoring.v1",
    "Canonical monitoring alerts, heartbeats, maintenance windows and inventory "
    "snapshots, validated by ingest.",
    monitoring.EVENTS + inventory.EVENTS,
    producers=("ingest",),
    consumers=("incidents", "billing"),
    retention_ms=7 * DAY_MS,
)
TICKETS = Topic(
    "msp.tickets.v1",
    "Ticket lifecycle and time entries: from the PSA via ingest, and proactive tickets "
    "from incidents.",
    tickets.EVENTS,
    producers=("ingest", "incidents"),
    consumers=("sla-clock", "billing"),
    retention_ms=-1,
)
CONTRACTS = Topic(
    "msp.contracts.v1",
    "Full contract snapshots with version history, one record per customer (compacted).",
    contracts.EVENTS,
    producers=("ingest",),
    consumers=("incidents", "sla-clock", "billing", "notify"),
    cleanup_policy="compact",
    retention_ms=-1,
    extra_config={"min.compaction.lag.ms": str(DAY_MS)},
)
CHANGE_ORDERS = Topic(
    "msp.change-orders.v1",
    "Approved and rejected change orders that authorise billable project work.",
    change_orders.EVENTS,
    producers=("ingest",),
    consumers=("billing",),
    retention_ms=-1,
)
INCIDENTS = Topic(
    "msp.incidents.v1",
    "Incident lifecycle produced by triage.",
    incidents.EVENTS,
    producers=("incidents",),
    consumers=("incidents", "sla-clock", "notify", "grafana"),
    retention_ms=-1,
)
SLA = Topic(
    "msp.sla.v1",
    "SLA clock lifecycle, every escalation step (warnings, breaches, steps above 100 %), "
    "corrections, and each customer's monthly SLA report.",
    sla.EVENTS,
    producers=("sla-clock",),
    consumers=("notify", "external"),
    retention_ms=-1,
)
BILLING_LINE_ITEMS = Topic(
    "msp.billing.line-items.v1",
    "Every classified and priced unit of work, for finance.",
    (billing.LineItemRecorded, billing.LineItemReclassified),
    producers=("billing",),
    consumers=("finance",),
    retention_ms=-1,
)
BILLING_INVOICES = Topic(
    "msp.billing.invoices.v1",
    "Issued invoices and credit notes, for finance.",
    (billing.InvoiceIssued, billing.CreditNoteIssued),
    producers=("billing",),
    consumers=("finance", "billing"),
    retention_ms=-1,
)
FINANCE_ACCOUNTING = Topic(
    "msp.finance.accounting.v1",
    "Issued invoices and credit notes mapped onto the accounting systems' APIs (Xero, "
    "QuickBooks Online), one document per target, for finance to post.",
    finance.EVENTS,
    producers=("billing",),
    consumers=("finance",),
    retention_ms=-1,
)
DEAD_LETTER = Topic(
    "msp.deadletter.v1",
    "Records no consumer could accept, with the original bytes and the reason. Keyed by "
    "the original record's key.",
    deadletter.EVENTS,
    producers=("ingest", "incidents", "sla-clock", "billing", "notify"),
    consumers=("external",),
    key="original_key",
    retention_ms=-1,
)


def _raw(domain: str, canonical: Topic) -> Topic:
    return Topic(
        f"msp.raw.{domain}.v1",
        f"Unvalidated {domain} events published straight to Kafka by external systems; "
        f"ingest validates them onto {canonical.name} or the dead-letter topic.",
        canonical.event_types,
        producers=("external",),
        consumers=("ingest",),
        retention_ms=7 * DAY_MS,
        raw=True,
    )


RAW_MONITORING = _raw("monitoring", MONITORING)
RAW_TICKETS = _raw("tickets", TICKETS)
RAW_CONTRACTS = _raw("contracts", CONTRACTS)
RAW_CHANGE_ORDERS = _raw("change-orders", CHANGE_ORDERS)

TOPICS: tuple[Topic, ...] = (
    MONITORING,
    TICKETS,
    CONTRACTS,
    CHANGE_ORDERS,
    INCIDENTS,
    SLA,
    BILLING_LINE_ITEMS,
    BILLING_INVOICES,
    FINANCE_ACCOUNTING,
    DEAD_LETTER,
    RAW_MONITORING,
    RAW_TICKETS,
    RAW_CONTRACTS,
    RAW_CHANGE_ORDERS,
)

CANONICAL_TOPIC: dict[str, Topic] = {
    cls.event_type: topic for topic in TOPICS if not topic.raw for cls in topic.event_types
}
"""event type -> the one canonical topic it is published on."""


def topic_for(event_type: str) -> Topic:
    try:
        return CANONICAL_TOPIC[event_type]
    except KeyError:
        raise KeyError(f"no canonical topic for event type {event_type!r}") from None


def by_name(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"unknown topic {name!r}")
