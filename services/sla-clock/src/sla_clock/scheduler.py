"""The deadline scheduler: fires warnings, breaches and escalations on time when no
ticket event arrives, and the monthly SLA reports when due (`monthly.py`). Each round
claims due rows of `deadlines` with `FOR UPDATE SKIP LOCKED` (so several instances
share the work without firing a row twice), and in the same transaction writes the
events to the outbox, marks breached clocks and deletes the rows; then, in a second
transaction, the same for due rows of `report_schedule`. Its "now" is injected
(`timesource`): wall time live, event time in replay."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import asyncpg

from msp_events import Envelope
from msp_events.topics import SLA
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaOutcomeCorrected, SlaWarning
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import enqueue, outbox_record
from sla_clock import metrics
from sla_clock.contracts import ContractCache
from sla_clock.emissions import Emission, threshold_emission
from sla_clock.monthly import fire_reports
from sla_clock.service import fresh_events, settle_fired
from sla_clock.timesource import Now
from sla_clock.traces import in_ticket_traces

log = logging.getLogger(__name__)
GAUGE_REFRESH_S = 5.0  # running/paused counts: one GROUP BY over the live-clock index
REPORTS_PER_ROUND = 20  # a report reads a customer's month: keep a round short

CLAIM_SQL = """
WITH due AS (
    SELECT id FROM deadlines WHERE due_at <= $1 ORDER BY due_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM deadlines d USING due WHERE d.id = due.id
RETURNING d.customer_id, d.ticket_id, d.metric, d.cycle, d.kind, d.percent, d.due_at,
          d.escalation_level, d.roles
"""


async def fire_due(
    conn: asyncpg.Connection, *, now: datetime, limit: int, schema: str, namespace: str
) -> list[tuple[Envelope, datetime, str, str]]:
    """Claim and fire up to `limit` deadlines due at `now`. Returns (event, deadline,
    priority, tier) of what was emitted."""
    claimed = await conn.fetch(CLAIM_SQL, now, limit)
    if not claimed:
        return []
    clocks = await conn.fetch(
        """SELECT c.* FROM clocks c
           JOIN unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS k(cu, tk, m, cy)
             ON (c.customer_id, c.ticket_id, c.metric, c.cycle) = (k.cu, k.tk, k.m, k.cy)""",
        *zip(
            *[(r["customer_id"], r["ticket_id"], r["metric"], r["cycle"]) for r in claimed],
            strict=True,
        ),
    )
    by_key = {(c["customer_id"], c["ticket_id"], c["metric"], c["cycle"]): c for c in clocks}
    candidates: list[tuple[str, str, Emission]] = []
    identities: dict[str, dict[str, object]] = {}
    clock_facts: dict[str, tuple[str, str]] = {}  # clock id -> (priority, tier)
    breached: list[tuple[str, str, str, int, datetime]] = []
    for r in claimed:
        key = (r["customer_id"], r["ticket_id"], r["metric"], r["cycle"])
        clock = by_key.get(key)
        if clock is None or clock["state"] != "running":
            continue  # cannot happen: deadlines are replaced with their clock
        identity = {
            "clock_id": clock["clock_id"],
            "ticket_id": clock["ticket_id"],
            "metric": clock["metric"],
            "cycle": clock["cycle"],
            "priority": clock["priority"],
            "contract_id": clock["contract_id"],
            "contract_version": clock["contract_version"],
            "timezone": clock["timezone"],
        }
        identities[clock["clock_id"]] = identity
        clock_facts[clock["clock_id"]] = (clock["priority"], clock["tier"])
        emission = threshold_emission(
            identity,
            percent=r["percent"],
            instant=r["due_at"],
            due_at=clock["due_at"] or r["due_at"],
            target_s=clock["target_seconds"],
            level=r["escalation_level"],
            roles=list(r["roles"]),
        )
        candidates.append((r["customer_id"], clock["tier"], emission))
        if r["kind"] == "breach":
            breached.append((*key, r["due_at"]))
    if breached:
        await conn.execute(
            """UPDATE clocks c SET breached_at = k.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])
                    AS k(cu, tk, m, cy, at)
               WHERE (c.customer_id, c.ticket_id, c.metric, c.cycle) = (k.cu, k.tk, k.m, k.cy)""",
            *zip(*breached, strict=True),
        )
    # a statement a replay withdrew (a late pause moved the deadline) and now true again
    # is published as a correction of the withdrawal
    settled = await settle_fired(conn, candidates, now=now, identities=identities)
    events = await in_ticket_traces(conn, await fresh_events(conn, settled))
    topic = SLA.named(namespace)
    await enqueue(conn, schema, [outbox_record(e, topic=topic) for e in events])
    fired = []
    for e in events:
        data = e.data
        assert isinstance(data, SlaWarning | SlaBreached | SlaEscalated | SlaOutcomeCorrected)
        due = data.now_at if isinstance(data, SlaOutcomeCorrected) else None
        due = due or (data.at if isinstance(data, SlaWarning | SlaEscalated) else e.time)
        fired.append((e, due, *clock_facts[data.clock_id]))
    return fired


def fired_kind(event: Envelope) -> str:
    """warning, breach or escalation (a correction restates a withdrawn one)."""
    data = event.data
    if isinstance(data, SlaOutcomeCorrected):
        return data.statement
    if isinstance(data, SlaBreached):
        return "breach"
    return "escalation" if isinstance(data, SlaEscalated) else "warning"


class Scheduler:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        clock: Now,
        schema: str,
        namespace: str,
        interval_s: float,
        batch_size: int,
        contracts: ContractCache | None = None,
    ) -> None:
        self.pool = pool
        self.contracts = contracts or ContractCache()
        self.clock = clock
        self.schema = schema
        self.namespace = namespace
        self.interval_s = interval_s
        self.batch_size = batch_size
        self._next_gauges = 0.0

    async def run_once(self) -> int:
        """One round: fire what is due now; returns how many events were emitted."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                now = await self.clock.now(conn)
                fired = await fire_due(
                    conn,
                    now=now,
                    limit=self.batch_size,
                    schema=self.schema,
                    namespace=self.namespace,
                )
            if fired:
                crash_point("scheduler.after_commit")
            async with conn.transaction():
                reports = await fire_reports(
                    conn, now=now, limit=REPORTS_PER_ROUND, contracts=self.contracts
                )
                topic = SLA.named(self.namespace)
                await enqueue(conn, self.schema, [outbox_record(e, topic=topic) for e in reports])
            if reports:
                crash_point("reports.after_commit")
                metrics.MONTHLY_REPORTS.inc(len(reports))
            committed = datetime.now(UTC)
            for event, due, _priority, _tier in fired:
                kind = fired_kind(event)
                metrics.DEADLINES_FIRED.labels(kind).inc()
                if self.clock.kind == "wall":
                    metrics.BREACH_LAG.labels(kind).observe((committed - due).total_seconds())
            if time.monotonic() >= self._next_gauges:
                await self.refresh_gauges(conn)
                await self.refresh_compliance(conn, now=now)
                self._next_gauges = time.monotonic() + GAUGE_REFRESH_S
        return len(fired) + len(reports)

    async def refresh_gauges(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            """SELECT state, priority, tier, count(*) AS n FROM clocks
               WHERE state IN ('running', 'paused') GROUP BY state, priority, tier"""
        )
        metrics.CLOCKS.clear()
        for r in rows:
            metrics.CLOCKS.labels(r["state"], r["priority"], r["tier"]).set(r["n"])

    async def refresh_compliance(self, conn: asyncpg.Connection, *, now: datetime) -> None:
        """Compliance by customer and priority over the clocks started in the 30 days
        before `now` (cancelled clocks do not count). Bounded: customers x priorities."""
        rows = await conn.fetch(
            """SELECT customer_id, priority, count(*) AS n,
                      count(*) FILTER (WHERE breached_at IS NOT NULL) AS breached
               FROM clocks
               WHERE started_at > $1::timestamptz - interval '30 days' AND started_at <= $1
                 AND state <> 'cancelled'
               GROUP BY customer_id, priority""",
            now,
        )
        metrics.COMPLIANCE.clear()
        metrics.CLOCKS_MEASURED.clear()
        for r in rows:
            customer, priority, n, breached = r["customer_id"], r["priority"], r["n"], r["breached"]
            metrics.COMPLIANCE.labels(customer, priority).set(1 - breached / n)
            metrics.CLOCKS_MEASURED.labels(customer, priority, "breached").set(breached)
            metrics.CLOCKS_MEASURED.labels(customer, priority, "not_breached").set(n - breached)

    async def run(self) -> None:
        """Fire rounds until cancelled. A Postgres error ends the loop; the runtime's
        supervisor runs it again with backoff (a round is one transaction, so a round
        cut short fires nothing and is simply done again)."""
        while True:
            fired = await self.run_once()
            if fired < self.batch_size:
                await asyncio.sleep(self.interval_s)
