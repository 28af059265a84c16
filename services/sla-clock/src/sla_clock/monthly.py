"""The monthly SLA report as an event (`SlaMonthlyReport`): when each customer's is due,
what it says, and the scheduler's round that publishes it.

Rules:
* The report of month M is due at the opening of the first business day of M+1 in the
  customer's zone (the zone of the contract's latest version, as the report API's month
  bounds; the business hours and holidays of the version in force at the start of M+1).
  A calendar without business hours (24x7 only), or a month without a business day:
  at local midnight of the 1st.
* Reports start with the month sla-clock learnt the contract in (not before the first
  version's start): live (wall clock), the later of the contract event's time and
  now, so a rebuild or a newly-deployed sla-clock does not send years of reports
  (earlier months stay available from the API); in event-time mode the contract
  event's time, so a replay of the topics sends the same reports.
* A terminated contract gets the report of the month it ended in, then no more.
* Figures: `queries.read_sla_report` as of the scheduler's now, the API's function.
  The CSV is the API's `format=csv`, cut at a row boundary to stay inside a Kafka record; the
  breach list keeps the first `MAX_REPORT_BREACHES` (`breaches_total` counts all).
* Exactly once per customer and month: the schedule row moves to the next month in the
  transaction that writes the report to the outbox (ids: `derive_event_id("sla",
  "monthly_report", customer, month)`, and the `emitted` table drops repeats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from msp_events import Envelope, derive_event_id, make_event
from msp_events.calendar import hours_calendar
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.sla import (
    MAX_REPORT_BREACHES,
    MAX_REPORT_CSV,
    SlaMonthlyReport,
    SlaReportAvailability,
    SlaReportBreach,
    SlaReportLine,
)
from sla_clock.contracts import ContractCache
from sla_clock.emissions import SOURCE
from sla_clock.models import ReportRead
from sla_clock.queries import read_sla_report
from sla_clock.report import month_bounds, to_csv
from sla_clock.service import first_emissions

LAST_MONTH = "2099-12"  # the contract's window (msp_events.bounds): nothing after it
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def next_month(month: str) -> str:
    match = _MONTH.match(month)
    if match is None:
        raise ValueError("month must be YYYY-MM")
    year, mon = int(match[1]), int(match[2])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def month_of(instant: datetime, timezone: str) -> str:
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


def report_due_at(contract: ContractSnapshot, month: str) -> datetime:
    """When the report of `month` is due (see the module rules)."""
    timezone = contract.current.timezone
    _, end = month_bounds(month, timezone)
    version = contract.version_at(end) or contract.current
    if not version.calendar.has_business_hours:
        return end
    calendar = hours_calendar(timezone, version.calendar)
    first = day = calendar.local_date(end)
    while day.month == first.month:
        intervals = calendar.day_intervals(day)
        if intervals:
            return intervals[0][0]
        day += timedelta(days=1)
    return end


def first_report_month(contract: ContractSnapshot, *, learnt_at: datetime) -> str:
    """The first month reported for a contract sla-clock learnt at `learnt_at`."""
    start = max(learnt_at, contract.versions[0].effective_from)
    return month_of(start, contract.current.timezone)


def months_due(contract: ContractSnapshot, *, learnt_at: datetime, now: datetime) -> list[str]:
    """The months whose reports are due by `now` for a contract learnt at `learnt_at`."""
    months, month = [], first_report_month(contract, learnt_at=learnt_at)
    while report_due_at(contract, month) <= now and month <= LAST_MONTH:
        months.append(month)
        month = next_month(month)
    return months


def report_event(
    report: ReportRead, *, contract_id: str, contract_version: int
) -> SlaMonthlyReport:
    """The event of a report: its figures as they are, the CSV within its bound."""
    csv, omitted = to_csv(report), 0
    if len(csv) > MAX_REPORT_CSV:
        kept = csv[: csv.rindex("\n", 0, MAX_REPORT_CSV) + 1]
        omitted = csv.count("\n") - kept.count("\n")
        csv = kept
    return SlaMonthlyReport(
        month=report.month,
        timezone=report.timezone,
        as_of=report.as_of,
        contract_id=contract_id,
        contract_version=contract_version,
        contract_versions=report.contract_versions,
        clocks=len(report.clocks),
        summary=[SlaReportLine.model_validate(s.model_dump()) for s in report.summary],
        mean_time_to_respond_seconds=report.mean_time_to_respond_seconds,
        mean_time_to_resolve_seconds=report.mean_time_to_resolve_seconds,
        breaches=[
            SlaReportBreach.model_validate(b.model_dump())
            for b in report.breaches[:MAX_REPORT_BREACHES]
        ],
        breaches_total=len(report.breaches),
        availability=SlaReportAvailability.model_validate(report.availability.model_dump()),
        csv=csv,
        csv_rows_omitted=omitted,
    )


def report_event_id(customer_id: str, month: str) -> str:
    return derive_event_id("sla", "monthly_report", customer_id, month)


# -- state (the caller owns the transaction) ---------------------------------------------


async def schedule_reports(
    conn: asyncpg.Connection,
    *,
    learnt_at: Mapping[str, datetime],
    contracts: ContractCache,
) -> None:
    """Keep each customer's next report row right after its contract was stored
    (`learnt_at`: customer -> when sla-clock learnt it): a new customer starts with the
    month it was learnt in; a known one keeps its month, due again on the (possibly
    amended) calendar."""
    if not learnt_at:
        return
    customers = sorted(learnt_at)
    snapshots = await contracts.load(conn, customers)
    known = {
        r["customer_id"]: r["month"]
        for r in await conn.fetch(
            "SELECT customer_id, month FROM report_schedule WHERE customer_id = ANY($1::text[])",
            customers,
        )
    }
    rows = []
    for customer in customers:
        contract = snapshots.get(customer)
        if contract is None:
            continue  # an older snapshot than the one kept: nothing changed
        month = known.get(customer) or first_report_month(contract, learnt_at=learnt_at[customer])
        rows.append((customer, month, report_due_at(contract, month)))
    await conn.executemany(
        """INSERT INTO report_schedule (customer_id, month, due_at) VALUES ($1, $2, $3)
           ON CONFLICT (customer_id) DO UPDATE SET due_at = EXCLUDED.due_at""",
        rows,
    )


async def fire_reports(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    limit: int,
    contracts: ContractCache,
) -> list[Envelope]:
    """Claim up to `limit` reports due at `now`, build them, move each schedule row to
    the next month and return the reports never emitted before (the caller writes them
    to the outbox in this transaction)."""
    due = await conn.fetch(
        """SELECT s.customer_id, s.month, c.terminated_at
           FROM report_schedule s JOIN contracts c USING (customer_id)
           WHERE s.due_at <= $1 ORDER BY s.due_at LIMIT $2
           FOR UPDATE OF s SKIP LOCKED""",
        now,
        limit,
    )
    if not due:
        return []
    snapshots = await contracts.load(conn, [r["customer_id"] for r in due])
    events: dict[str, Envelope] = {}
    moves: list[tuple[str, str, datetime]] = []
    ended: list[str] = []
    for row in due:
        customer, month = row["customer_id"], row["month"]
        contract = snapshots[customer]
        start, _ = month_bounds(month, contract.current.timezone)
        terminated = row["terminated_at"]
        if terminated is not None and terminated <= start:
            ended.append(customer)  # the month after the contract ended: no report
            continue
        report = await read_sla_report(
            conn, customer_id=customer, month=month, now=now, contracts=contracts
        )
        assert report is not None  # the contract row was joined above
        version = contract.version_at(now) or contract.current
        data = report_event(
            report, contract_id=contract.contract_id, contract_version=version.version
        )
        event_id = report_event_id(customer, month)
        events[event_id] = make_event(
            data,
            customer_id=customer,
            source=SOURCE,
            time=now,
            subject=f"sla-report/{month}",
            id=event_id,
        )
        if month >= LAST_MONTH:
            ended.append(customer)
        else:
            following = next_month(month)
            moves.append((customer, following, report_due_at(contract, following)))
    if moves:
        await conn.executemany(
            "UPDATE report_schedule SET month = $2, due_at = $3 WHERE customer_id = $1", moves
        )
    if ended:
        await conn.execute("DELETE FROM report_schedule WHERE customer_id = ANY($1::text[])", ended)
    fresh = await first_emissions(conn, list(events))
    return [e for event_id, e in events.items() if event_id in fresh]
