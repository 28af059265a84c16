"""`mspctl invoice ...` and `mspctl scope-creep`: invoices, invoice runs and the
scope-creep report (the billing API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from typer._click.core import Context  # typer vendors click: its Context type
from typer.core import TyperGroup

from msp_events import derive_event_id
from mspctl.common import call, fail, load_settings, print_json, print_table
from mspctl.sla import check_month


class _ShowByDefault(TyperGroup):
    """`mspctl invoice CUSTOMER --period P` means `mspctl invoice show CUSTOMER ...`."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Invoices (billing API). `mspctl invoice CUSTOMER --period P` shows one; "
    "`mspctl invoice run --period P` runs the month.",
    epilog="Examples: mspctl invoice cust-acme --period 2026-03;  "
    "mspctl invoice run --period 2026-03",
)


def invoice_id(customer_id: str, period: str) -> str:
    # billing's rule (services/billing/src/billing/invoice.py: invoice_id): one invoice
    # per (customer, period), id derived from both; a tool may not import the service.
    return "inv-" + derive_event_id("invoice", customer_id, period)


@app.command("show")
def show(
    customer: Annotated[str, typer.Argument(help="the customer id")],
    period: Annotated[str, typer.Option(help="YYYY-MM, customer-local month")],
    as_json: Annotated[
        bool, typer.Option("--json", help="the InvoiceIssued payload as JSON")
    ] = False,
) -> None:
    """Print a customer's invoice for a period (lines, subtotal, total).

    Examples:

      mspctl invoice cust-acme --period 2026-03

      mspctl invoice show cust-acme --period 2026-03 --json
    """
    check_month(period, "--period")
    settings = load_settings()
    found = call(
        settings, "billing", "GET", f"/v1/invoices/{invoice_id(customer, period)}", ok=(200, 404)
    )
    if found.status_code == 404:
        fail(
            f"no invoice for {customer} in {period} (has the invoice run for {period} "
            f"happened? `mspctl invoice run --period {period}`)"
        )
    body = found.json()
    if as_json:
        print_json(body)
        return
    typer.echo(
        f"invoice {body['invoice_id']} {customer} {body['period']} issued {body['issued_at']}"
    )
    print_table(
        body["lines"],
        ("classification", "description", "quantity", "unit_amount", "line_amount"),
    )
    typer.echo(f"subtotal {body['subtotal']} {body['currency']}")
    typer.echo(f"total    {body['total']} {body['currency']}")


@app.command("run")
def run(
    period: Annotated[str, typer.Option(help="YYYY-MM, the month to invoice")],
    customer: Annotated[str | None, typer.Option(help="one customer, else all")] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(help="issue time (UTC; default now); the month must have ended by then"),
    ] = None,
) -> None:
    """Run the month's invoices (idempotent: a rerun issues nothing new).

    Examples:

      mspctl invoice run --period 2026-03

      mspctl invoice run --period 2026-03 --customer cust-acme --as-of 2026-04-01T06:00:00
    """
    check_month(period, "--period")
    settings = load_settings()
    body: dict[str, Any] = {"period": period}
    if customer:
        body["customer_id"] = customer
    if as_of is not None:
        body["as_of"] = as_of.isoformat() + ("Z" if as_of.tzinfo is None else "")
    result = call(settings, "billing", "POST", "/v1/invoice-runs", json=body).json()
    print_table(result["outcomes"], ("customer_id", "outcome", "invoice_id", "total"))


def scope_creep(
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (work date), else every month")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="only this customer")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON")] = False,
) -> None:
    """Out-of-scope work without an approved change order, per customer and ticket.

    Examples:

      mspctl scope-creep --period 2026-03

      mspctl scope-creep --customer cust-acme --json
    """
    if period is not None:
        check_month(period, "--period")
    settings = load_settings()
    params = {k: v for k, v in (("period", period), ("customer_id", customer)) if v}
    body = call(settings, "billing", "GET", "/v1/reports/scope-creep", params=params).json()
    if as_json:
        print_json(body)
        return
    rows = [
        {"customer_id": c["customer_id"], **t, "hours": round(t["minutes"] / 60, 2)}
        for c in body["customers"]
        for t in c["tickets"]
    ]
    print_table(rows, ("customer_id", "ticket_id", "title", "hours", "entries"))
