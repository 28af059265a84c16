"""`mspctl sla ...`: a ticket's SLA clocks and a customer's monthly SLA report (the
sla-clock API)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from mspctl.common import call, fail, load_settings, print_json, print_table

app = typer.Typer(
    help="SLA clocks and monthly SLA reports (the sla-clock service API).",
    epilog="Examples: mspctl sla ticket T-1001;  mspctl sla report cust-acme --month 2026-03",
)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def check_month(value: str, option: str = "--month") -> str:
    if not MONTH.match(value):
        fail(f"{option}: {value!r} is not a month (YYYY-MM)", code=2)
    return value


@app.command("ticket")
def ticket(
    ticket_id: Annotated[str, typer.Argument(help="the ticket id")],
    customer: Annotated[str | None, typer.Option(help="the customer (when ids repeat)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON")] = False,
) -> None:
    """Show a ticket's SLA clocks: state, outcome, target, elapsed, deadline.

    Examples:

      mspctl sla ticket T-1001

      mspctl sla ticket T-1001 --customer cust-acme --json
    """
    settings = load_settings()
    params = {"customer_id": customer} if customer else {}
    body = call(settings, "sla-clock", "GET", f"/v1/tickets/{ticket_id}/sla", params=params).json()
    if as_json:
        print_json(body)
        return
    reason = body.get("no_clock_reason")
    if reason:
        typer.echo(f"{ticket_id}: no SLA clock ({reason})")
    print_table(
        body.get("clocks", []),
        (
            "metric",
            "cycle",
            "priority",
            "state",
            "outcome",
            "target_business_seconds",
            "elapsed_business_seconds",
            "deadline",
        ),
    )


@app.command("report")
def report(
    customer: Annotated[str, typer.Argument(help="the customer id")],
    month: Annotated[str, typer.Option(help="YYYY-MM, in the contract's time zone")],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table, json or csv")
    ] = ReportFormat.table,
) -> None:
    """Print a customer's monthly SLA compliance report.

    Examples:

      mspctl sla report cust-acme --month 2026-03

      mspctl sla report cust-acme --month 2026-03 --format csv > acme-2026-03.csv
    """
    check_month(month)
    settings = load_settings()
    path = f"/v1/customers/{customer}/sla-report"
    if fmt is ReportFormat.csv:
        text = call(settings, "sla-clock", "GET", path, params={"month": month, "format": "csv"})
        typer.echo(text.text, nl=False)
        return
    body = call(settings, "sla-clock", "GET", path, params={"month": month}).json()
    if fmt is ReportFormat.json:
        print_json(body)
        return
    print_report(body)


def print_report(body: dict[str, Any]) -> None:
    typer.echo(
        f"SLA report {body['customer_id']} {body['month']} ({body['timezone']}), "
        f"as of {body['as_of']}"
    )
    print_table(
        body["summary"],
        ("metric", "priority", "clocks", "met", "breached", "pending", "met_percent"),
    )
    for key in ("mean_time_to_respond_seconds", "mean_time_to_resolve_seconds"):
        typer.echo(f"{key.replace('_', ' ')}: {body.get(key)}")
    for key in ("availability_percent", "uptime_target_percent"):
        if key in body:
            typer.echo(f"{key.replace('_', ' ')}: {body[key]}")
    if body.get("breaches"):
        typer.echo("breaches:")
        print_table(body["breaches"], ("ticket_id", "metric", "cycle", "breached_at", "reason"))
