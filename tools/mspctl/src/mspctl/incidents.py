"""`mspctl incidents ...`: the incidents API (`GET /v1/incidents`, `/v1/incidents/{id}`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from mspctl.common import call, load_settings, print_json, print_table

app = typer.Typer(
    help="Incidents triaged from monitoring (the incidents service API).",
    epilog="Examples: mspctl incidents list --status open;  mspctl incidents show INCIDENT_ID",
)

COLUMNS = (
    "incident_id",
    "customer_id",
    "priority",
    "status",
    "tier",
    "scope",
    "title",
    "ticket_id",
)


class Status(StrEnum):
    open = "open"
    resolved = "resolved"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


@app.command("list")
def list_incidents(
    customer: Annotated[str | None, typer.Option(help="only this customer")] = None,
    status: Annotated[Status | None, typer.Option(help="open or resolved")] = None,
    priority: Annotated[Priority | None, typer.Option(help="P1..P5")] = None,
    opened_from: Annotated[
        datetime | None, typer.Option(help="opened at or after (UTC, e.g. 2026-03-01T00:00:00)")
    ] = None,
    opened_to: Annotated[datetime | None, typer.Option(help="opened before (UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON")] = False,
) -> None:
    """List incidents in work-queue order (priority, then tier, then opened_at).

    Examples:

      mspctl incidents list --status open

      mspctl incidents list --customer cust-acme --priority P1 --json
    """
    settings = load_settings()
    params: dict[str, Any] = {"limit": limit}
    if customer:
        params["customer_id"] = customer
    if status:
        params["status"] = status.value
    if priority:
        params["priority"] = priority.value
    for name, value in (("opened_from", opened_from), ("opened_to", opened_to)):
        if value is not None:
            # typer parses naive datetimes: they are UTC here (the API wants an offset)
            params[name] = value.isoformat() + ("Z" if value.tzinfo is None else "")
    items = call(settings, "incidents", "GET", "/v1/incidents", params=params).json()["items"]
    if as_json:
        print_json(items)
    else:
        print_table(items, COLUMNS)


@app.command("show")
def show(incident_id: Annotated[str, typer.Argument(help="the incident id")]) -> None:
    """Show one incident with its alerts, timeline and priority reason (JSON).

    Example:

      mspctl incidents show inc-0b7c...
    """
    settings = load_settings()
    print_json(call(settings, "incidents", "GET", f"/v1/incidents/{incident_id}").json())
