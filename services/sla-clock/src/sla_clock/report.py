"""The monthly SLA report, computed from the same clock views the ticket API returns.

Rules:
* A clock belongs to the month (in the contract's time zone) in which it started.
* met % per metric and priority = met / (met + breached); pending and cancelled clocks
  are listed but not counted.
* Mean time to respond / resolve = mean elapsed business time of the finished (met or
  breached and stopped) first-response / resolution clocks.
* Availability = 1 - downtime / month length, where downtime is the union of the
  outage intervals of top-level incidents (children are inside their parent), clipped
  to the month (an open incident counts until `as_of`). Compared with the uptime target
  of the contract version in force at the end of the month.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import mean
from zoneinfo import ZoneInfo

from sla_clock.models import (
    AvailabilityRead,
    BreachRead,
    ClockRead,
    MetricSummary,
    ReportRead,
)

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TWO = Decimal("0.01")


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of `month` ("YYYY-MM") in `timezone`, as UTC instants."""
    match = MONTH.match(month)
    if match is None:
        raise ValueError("month must be YYYY-MM")
    year, mon = int(match[1]), int(match[2])
    zone = ZoneInfo(timezone)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _pct(part: float, whole: float) -> Decimal:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TWO, ROUND_HALF_UP)


def _mean(values: list[int]) -> Decimal | None:
    return Decimal(mean(values)).quantize(TWO, ROUND_HALF_UP) if values else None


def downtime(
    outages: list[tuple[datetime, datetime | None]], start: datetime, end: datetime, now: datetime
) -> timedelta:
    clipped = sorted(
        (max(a, start), min(b or now, end))
        for a, b in outages
        if min(b or now, end) > max(a, start)
    )
    total, cur_start, cur_end = timedelta(0), None, None
    for a, b in clipped:
        if cur_end is None or a > cur_end:
            if cur_start is not None and cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_start is not None and cur_end is not None:
        total += cur_end - cur_start
    return total


def breach_reason(c: ClockRead) -> str:
    paused = f", {len(c.pauses)} pause(s) excluded" if c.pauses else ""
    return (
        f"{c.metric} took {c.elapsed_business_seconds} business s against the "
        f"{c.target_business_seconds} s {c.priority} target ({c.coverage}{paused}) "
        f"of contract {c.contract_id} v{c.contract_version}"
    )


def build_report(
    *,
    customer_id: str,
    month: str,
    timezone: str,
    clocks: list[ClockRead],
    outages: list[tuple[datetime, datetime | None]],
    uptime_target: Decimal | None,
    now: datetime,
) -> ReportRead:
    start, end = month_bounds(month, timezone)
    mine = [c for c in clocks if start <= c.started_at < end]
    summary = []
    for metric, priority in sorted({(c.metric, c.priority) for c in mine}):
        group = [c for c in mine if c.metric == metric and c.priority == priority]
        met = sum(c.outcome == "met" for c in group)
        breached = sum(c.outcome == "breached" for c in group)
        finished = [c.elapsed_business_seconds for c in group if c.state == "stopped"]
        summary.append(
            MetricSummary(
                metric=metric,
                priority=priority,
                clocks=len(group),
                met=met,
                breached=breached,
                pending=sum(c.outcome == "pending" for c in group),
                cancelled=sum(c.outcome == "cancelled" for c in group),
                met_percent=_pct(met, met + breached) if met + breached else None,
                mean_business_seconds=_mean(finished),
            )
        )
    finished_by = {
        m: [c.elapsed_business_seconds for c in mine if c.metric == m and c.state == "stopped"]
        for m in ("first_response", "resolution")
    }
    month_len = (min(end, max(now, start)) - start) or (end - start)
    down = downtime(outages, start, end, now)
    measured = Decimal(100) - _pct(down.total_seconds(), month_len.total_seconds())
    return ReportRead(
        customer_id=customer_id,
        month=month,
        timezone=timezone,
        as_of=now,
        contract_versions=sorted({c.contract_version for c in mine}),
        summary=summary,
        mean_time_to_respond_seconds=_mean(finished_by["first_response"]),
        mean_time_to_resolve_seconds=_mean(finished_by["resolution"]),
        breaches=[
            BreachRead(
                clock_id=c.clock_id,
                ticket_id=c.ticket_id,
                metric=c.metric,
                cycle=c.cycle,
                priority=c.priority,
                due_at=c.due_at,
                breached_at=c.breached_at,
                reason=breach_reason(c),
                contract_id=c.contract_id,
                contract_version=c.contract_version,
            )
            for c in mine
            if c.outcome == "breached"
        ],
        availability=AvailabilityRead(
            measured_percent=measured,
            target_percent=uptime_target,
            met=None if uptime_target is None else measured >= uptime_target,
            downtime_seconds=int(down.total_seconds()),
            incidents=sum(1 for a, b in outages if a < end and (b is None or b > start)),
        ),
        clocks=mine,
    )


CSV_FIELDS = [
    "clock_id",
    "ticket_id",
    "metric",
    "cycle",
    "priority",
    "outcome",
    "state",
    "target_business_seconds",
    "elapsed_business_seconds",
    "started_at",
    "stopped_at",
    "due_at",
    "breached_at",
    "contract_id",
    "contract_version",
]


def to_csv(report: ReportRead) -> str:
    """One row per clock (what the summary counts), in the API's field names."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for c in report.clocks:
        row = c.model_dump(mode="json", include=set(CSV_FIELDS))
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_FIELDS})
    return out.getvalue()


def to_html(report: ReportRead) -> str:
    """A printable page: summary, breaches, availability."""
    e = html.escape

    def table(head: list[str], rows: list[list[object]]) -> str:
        th = "".join(f"<th>{e(h)}</th>" for h in head)
        trs = "".join(
            "<tr>" + "".join(f"<td>{e('' if v is None else str(v))}</td>" for v in r) + "</tr>"
            for r in rows
        )
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    a = report.availability
    summary = table(
        ["metric", "priority", "clocks", "met", "breached", "pending", "met %", "mean s"],
        [
            [
                s.metric,
                s.priority,
                s.clocks,
                s.met,
                s.breached,
                s.pending,
                s.met_percent,
                s.mean_business_seconds,
            ]
            for s in report.summary
        ],
    )
    breaches = table(
        ["ticket", "metric", "cycle", "priority", "due", "reason", "contract version"],
        [
            [b.ticket_id, b.metric, b.cycle, b.priority, b.due_at, b.reason, b.contract_version]
            for b in report.breaches
        ],
    )
    versions = ", ".join(map(str, report.contract_versions)) or "-"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>SLA report {e(report.customer_id)} {e(report.month)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 6px}@media print{a{display:none}}</style>"
        f"</head><body><h1>SLA report: {e(report.customer_id)}, {e(report.month)}</h1>"
        f"<p>Time zone {e(report.timezone)}; contract versions {e(versions)}; "
        f"as of {e(str(report.as_of))}</p>"
        f"<h2>Compliance</h2>{summary}"
        f"<p>Mean time to respond: {e(str(report.mean_time_to_respond_seconds))} business s; "
        f"to resolve: {e(str(report.mean_time_to_resolve_seconds))} business s</p>"
        f"<h2>Breaches</h2>{breaches}"
        f"<h2>Availability</h2><p>Measured {a.measured_percent}% against a target of "
        f"{a.target_percent}% ({'met' if a.met else 'not met'}); downtime "
        f"{a.downtime_seconds} s over {a.incidents} incident(s).</p></body></html>"
    )
