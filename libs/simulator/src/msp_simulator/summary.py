"""The end-of-month summary, read from the services' HTTP APIs only: incidents and
noise reduction (incidents), SLA compliance per customer (sla-clock), scope creep,
included hours and overage, invoice totals by classification and the device/user
reconciliation (billing)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

FIRING_OUTCOMES = frozenset(
    {"opened", "correlated", "suppressed", "not_monitored", "duplicate", "repeat", "refired",
     "late_trigger", "flapping", "pending"}
)  # fmt: skip
"""Triage outcomes of an alert that fired (the rest are resolves and bookkeeping)."""


@dataclass
class Summary:
    month: str
    incidents: list[dict[str, Any]] = field(default_factory=list)
    flapped: list[str] = field(default_factory=list)
    """Incidents whose timeline says an alert was flapping at some point."""
    covered_hours: Decimal = Decimal(0)
    alert_notifications: int | None = None
    """Alert notifications posted (when the caller played the month), repeats included."""
    repeats_dropped: int | None = None
    triage: Counter[str] = field(default_factory=Counter)
    sla: dict[str, dict[str, Any]] = field(default_factory=dict)
    scope_creep: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    """Billing's reconciliation per customer (contracted vs seen devices and users)."""
    by_classification: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    included_hours: dict[str, dict[str, str]] = field(default_factory=dict)
    """Block-hours customers' settlements of the month (once invoiced), by customer."""
    margin: list[dict[str, Any]] = field(default_factory=list)
    """Margin per customer (billing's /v1/reports/margin): revenue less technician cost."""

    @property
    def alerts_in(self) -> int:
        return sum(n for outcome, n in self.triage.items() if outcome in FIRING_OUTCOMES)


def invoice_run(
    http: httpx.Client, billing: str, *, period: str, as_of: datetime
) -> list[dict[str, Any]]:
    resp = http.post(
        f"{billing}/v1/invoice-runs", json={"period": period, "as_of": as_of.isoformat()}
    )
    resp.raise_for_status()
    outcomes: list[dict[str, Any]] = resp.json()["outcomes"]
    return outcomes


def issued_invoices(
    http: httpx.Client, billing: str, *, period: str, customers: Sequence[str]
) -> list[str]:
    """Ids of the invoices already issued for `period` (read from the ledgers: no run)."""
    found: set[str] = set()
    for customer in customers:
        resp = http.get(f"{billing}/v1/customers/{customer}/ledger/{period}")
        resp.raise_for_status()
        found.update(i["invoice_id"] for i in resp.json()["line_items"] if i.get("invoice_id"))
    return sorted(found)


def collect(
    http: httpx.Client,
    *,
    month: str,
    customers: Sequence[str],
    incidents: str,
    sla: str,
    billing: str,
    invoice_ids: Sequence[str] | None = None,
) -> Summary:
    s = Summary(month)
    found = http.get(f"{incidents}/v1/incidents", params={"limit": 1000})
    found.raise_for_status()
    s.incidents = found.json()["items"]
    for incident in s.incidents:
        detail = http.get(f"{incidents}/v1/incidents/{incident['incident_id']}")
        detail.raise_for_status()
        if any(e["detail"].get("flapping") is True for e in detail.json()["timeline"]):
            s.flapped.append(incident["incident_id"])
    for customer in customers:
        log = http.get(
            f"{incidents}/v1/triage-log", params={"customer_id": customer, "limit": 1000}
        )
        log.raise_for_status()
        s.triage.update(r["outcome"] for r in log.json())
        report = http.get(
            f"{sla}/v1/customers/{customer}/sla-report", params={"month": month, "format": "json"}
        )
        if report.status_code == 200:
            s.sla[customer] = report.json()
    creep = http.get(f"{billing}/v1/reports/scope-creep", params={"period": month})
    creep.raise_for_status()
    s.scope_creep = creep.json()["customers"]
    hours = http.get(f"{billing}/v1/reports/hours", params={"period": month})
    hours.raise_for_status()
    s.covered_hours = sum(
        (Decimal(c["covered_hours"]) for c in hours.json()["customers"]), Decimal(0)
    )
    s.included_hours = {
        c["customer_id"]: c["included_hours"]
        for c in hours.json()["customers"]
        if c.get("included_hours")
    }
    recon = http.get(f"{billing}/v1/reports/reconciliation", params={"period": month})
    recon.raise_for_status()
    s.reconciliation = recon.json()["customers"]
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for invoice_id in invoice_ids or ():
        resp = http.get(f"{billing}/v1/invoices/{invoice_id}")
        resp.raise_for_status()
        invoice = resp.json()
        s.invoices.append(invoice)
        for line in invoice["lines"]:
            totals[line["classification"]][line["currency"]] += Decimal(line["line_amount"])
    s.by_classification = {k: dict(v) for k, v in sorted(totals.items())}
    margin = http.get(f"{billing}/v1/reports/margin", params={"period": month})
    margin.raise_for_status()
    s.margin = margin.json()["customers"]
    return s


def _sla_counts(report: dict[str, Any]) -> tuple[int, int, int]:
    met = sum(r["met"] for r in report["summary"])
    breached = sum(r["breached"] for r in report["summary"])
    pending = sum(r["pending"] for r in report["summary"])
    return met, breached, pending


def _money(amounts: dict[str, Decimal]) -> str:
    return ", ".join(f"{cur} {amt:,.2f}" for cur, amt in sorted(amounts.items())) or "-"


def margin_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Margin per customer: invoiced revenue (less credit notes) minus the technicians'
    cost of the month's work, at billing's MSP_TECHNICIAN_COST_RATES."""
    out = ["", "Margin per customer (revenue - technicians' cost of the month's work)"]
    for r in rows:
        ratio = "" if r["margin_ratio"] is None else f" ({100 * Decimal(r['margin_ratio']):.1f} %)"
        uncosted = (
            f", {r['uncosted_hours']} h without a cost rate" if Decimal(r["uncosted_hours"]) else ""
        )
        out.append(
            f"  {r['customer_id']}  {r['currency']} revenue {Decimal(r['revenue']):,.2f}"
            f"  cost {Decimal(r['cost']):,.2f} ({r['hours_worked']} h)"
            f"  margin {Decimal(r['margin']):,.2f}{ratio}{uncosted}"
        )
    return out if rows else [*out, "  -"]


def render(s: Summary, *, cast: dict[str, dict[str, str]] | None = None) -> str:
    rule = "=" * 78
    out = [rule, f"SIMULATED MONTH {s.month}: SUMMARY", rule, "", "Incidents and noise reduction"]
    n = len(s.incidents)
    proactive = sum(1 for i in s.incidents if i.get("ticket_id"))
    if s.alert_notifications is not None:
        out.append(
            f"  {s.alert_notifications} alert notifications posted; ingest dropped "
            f"{s.repeats_dropped} re-sent repeats"
        )
    ratio = f"{s.alerts_in / proactive:.1f}" if proactive else "-"
    out.append(
        f"  {s.alerts_in} firing alerts -> {n} incidents -> {proactive} proactive tickets "
        f"({ratio} alerts per ticket; P5 incidents need no ticket)"
    )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.triage.items()))
    out.append(f"  triage outcomes: {outcomes}")
    by_priority = Counter(i["priority"] for i in s.incidents)
    out.append("  by priority: " + ", ".join(f"{p} {by_priority[p]}" for p in sorted(by_priority)))
    for i in s.incidents:
        storm = i["alert_count"] >= 5 or i["scope"] == "site"
        if storm or i["incident_id"] in s.flapped:
            out.append(
                f"  {'storm' if storm else 'flapping'}: {i['customer_id']} {i['priority']} "
                f"{i['title']!r}, {i['alert_count']} alert(s) -> incident "
                f"{i['incident_id']} ({i['status']}), ticket {i['ticket_id']}"
            )
    out += ["", "SLA compliance per customer (met / breached / pending clocks)"]
    all_met = all_breached = 0
    for customer, report in sorted(s.sla.items()):
        met, breached, pending = _sla_counts(report)
        all_met, all_breached = all_met + met, all_breached + breached
        pct = f"{100 * met / (met + breached):5.1f} %" if met + breached else "    - "
        avail = report["availability"]["measured_percent"]
        out.append(
            f"  {customer}  {pct}  {met:>3} met {breached:>3} breached {pending:>3} pending"
            f"  availability {avail} %  ({report['timezone']})"
        )
    if all_met + all_breached:
        overall = 100 * all_met / (all_met + all_breached)
        out.append(f"  overall: {overall:.1f} % of finished clocks met")
    out += [
        "",
        "Scope creep (held, not billed: work without a change order, or beyond its budget)",
    ]
    for c in s.scope_creep or [{"customer_id": "none", "hours": "0", "tickets": []}]:
        tickets = ", ".join(
            f"{t['ticket_id']} ({', '.join(t.get('rules', []))})" for t in c["tickets"]
        )
        out.append(f"  {c['customer_id']}: {c['hours']} h on {tickets or '-'}")
    out += ["", "Included hours (block hours: covered work beyond the allowance is overage)"]
    for customer, h in sorted(s.included_hours.items()) or [("none", {})]:
        if not h:
            out.append("  none")
            continue
        out.append(
            f"  {customer}: {h['allowance_hours']} h included + {h['rollover_in_hours']} h "
            f"rolled over, {h['used_hours']} h used, {h['overage_hours']} h overage billed, "
            f"{h['rollover_out_hours']} h carried"
        )
    overage = sum((Decimal(h["overage_hours"]) for h in s.included_hours.values()), Decimal(0))
    out.append(f"  overage hours: {overage:.2f}")
    out += ["", f"Invoices ({len(s.invoices)} issued): totals by classification"]
    for kind, amounts in s.by_classification.items():
        out.append(f"  {kind:<12} {_money(amounts)}")
    grand: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in s.invoices:
        grand[invoice["currency"]] += Decimal(invoice["total"])
    out.append(f"  {'total':<12} {_money(dict(grand))}")
    out.append(f"  covered work absorbed by the flat fees: {s.covered_hours} h (not invoiced)")
    out += ["", *render_reconciliation(s.reconciliation)]
    out += margin_lines(s.margin)
    if cast:
        out += ["", "Where to look (storylines)"]
        for story, facts in cast.items():
            out.append(f"  {story:<21} " + " ".join(f"{k}={v}" for k, v in facts.items()))
    out.append(rule)
    return "\n".join(out)


def render_reconciliation(customers: list[dict[str, Any]]) -> list[str]:
    """Seen vs contracted per customer on a per-device or per-user fee (the peak of
    distinct assets seen on one day; the contracted count is the floor of what is billed)."""
    counted = [
        (c["customer_id"], k) for c in customers for k in c["kinds"] if k["contracted"] is not None
    ]
    above = [(c, k) for c, k in counted if k["peak_seen"] > k["contracted"]]
    below = [(c, k) for c, k in counted if k["peak_seen"] < k["contracted"]]
    out = [
        "Reconciliation (devices and users seen vs contracted; billed: the higher)",
        f"  {len(counted)} per-unit fees: {len(above)} seen above contract, {len(below)} "
        f"below (billed at the contracted floor), {len(counted) - len(above) - len(below)} "
        "as contracted",
    ]
    for customer, k in above + below:
        billed = max(p["billed"] for p in k["portions"]) if k["portions"] else k["contracted"]
        line = (
            f"  {customer} {k['kind']}s: {k['peak_seen']} seen (peak {k['peak_day']}) vs "
            f"{k['contracted']} contracted -> billed {billed}"
        )
        if k["new"]:
            line += f"; new {', '.join(k['new'])}"
        if k["missing"]:
            line += f"; missing {', '.join(k['missing'])}"
        out.append(line)
    return out
