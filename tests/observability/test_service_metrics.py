"""Metrics added for the dashboards, checked against real Postgres: sla-clock's
compliance by customer and priority (the SLA dashboard's compliance panel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot
from msp_plumbing.migrations import migrate
from sla_clock import metrics
from sla_clock.contracts import ContractCache, store_contract
from sla_clock.scheduler import Scheduler, fire_due
from sla_clock.service import recompute, store_transitions
from sla_clock.timesource import WallClock
from sla_clock.transitions import Transition

pytestmark = pytest.mark.integration


def gauge(metric: Any, **labels: str) -> float | None:
    for family in metric.collect():
        for sample in family.samples:
            if sample.labels == labels:
                return float(sample.value)
    return None


async def test_compliance_ratio_counts_breached_clocks_per_customer_and_priority(
    database_url: str, namespace: str
) -> None:
    schema = namespace.strip("_").lower()
    await migrate(database_url, schema=schema, package="sla_clock")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        snapshot = ContractSnapshot(contract_id="ctr-1", versions=[sample_contract_version()])
        await store_contract(conn, customer_id="cmp-co", contract=snapshot)
        late = datetime(2026, 3, 11, 9, tzinfo=UTC)
        # P1 is 24x7 (15 min response, 4 h resolution): T-old breaches both clocks by
        # `late`, T-new (opened 10 minutes before) neither
        opened = {"T-old": late - timedelta(days=1), "T-new": late - timedelta(minutes=10)}
        entries = [
            ("cmp-co", t, Transition("created", at, f"e-{t}", priority="P1"))
            for t, at in opened.items()
        ]
        await store_transitions(conn, entries=entries)
        await recompute(
            conn, keys=[("cmp-co", t) for t in opened], now=late, contracts=ContractCache()
        )
        async with conn.transaction():
            await fire_due(conn, now=late, limit=100, schema=schema, namespace=namespace)
        scheduler = Scheduler(
            pool=None,  # type: ignore[arg-type]  # refresh_compliance uses the conn given
            clock=WallClock(),
            schema=schema,
            namespace=namespace,
            interval_s=1,
            batch_size=10,
        )
        await scheduler.refresh_compliance(conn, now=late)
    finally:
        await conn.close()
    assert gauge(metrics.COMPLIANCE, customer="cmp-co", priority="P1") == 0.5
    assert gauge(metrics.CLOCKS_MEASURED, customer="cmp-co", priority="P1", outcome="breached") == 2
    assert (
        gauge(metrics.CLOCKS_MEASURED, customer="cmp-co", priority="P1", outcome="not_breached")
        == 2
    )
