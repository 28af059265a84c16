"""HTTP routes (thin): ticket clocks, the monthly report, the dispatch queue. Each
declares its permission; a customer-scoped caller sees only its customers, and another
customer's ticket or report is answered exactly like a missing one."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from msp_access.dependency import require
from msp_access.errors import ApiError
from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_events.bounds import Month
from sla_clock.models import QueueItemRead, ReportRead, TicketSlaRead
from sla_clock.queries import find_ticket, read_sla_report, ticket_clocks
from sla_clock.queue import QUEUE_SQL
from sla_clock.report import to_csv, to_html
from sla_clock.runtime import SlaRuntime
from sla_clock.service import clock_views

router = APIRouter(prefix="/v1", tags=["sla"])
SlaReader = Annotated[Principal, require(Permission.SLA_READ)]
QueueReader = Annotated[Principal, require(Permission.QUEUE_READ)]


def _runtime(request: Request) -> SlaRuntime:
    runtime: SlaRuntime = request.app.state.runtime
    return runtime


@router.get("/tickets/{ticket_id}/sla", response_model=TicketSlaRead)
async def ticket_sla(
    ticket_id: str,
    request: Request,
    principal: SlaReader,
    customer_id: Annotated[
        str | None, Query(description="Needed only if two customers share a ticket id")
    ] = None,
) -> TicketSlaRead:
    rt = _runtime(request)
    async with rt.db().acquire() as conn:
        ticket = await find_ticket(
            conn, ticket_id=ticket_id, customer_id=customer_id, scope=principal.customer_scope()
        )
        if ticket is None:
            raise ApiError(
                404, "ticket_id: unknown ticket", [("/path/ticket_id", "unknown ticket")]
            )
        now = await rt.clock.now(conn)
        rows = await ticket_clocks(conn, customer_id=ticket["customer_id"], ticket_id=ticket_id)
        clocks = await clock_views(conn, rows=rows, now=now, contracts=rt.contracts)
    return TicketSlaRead(
        customer_id=ticket["customer_id"],
        ticket_id=ticket_id,
        priority=ticket["priority"],
        status=ticket["status"],
        open=ticket["open"],
        tier=ticket["tier"],
        contract_id=ticket["contract_id"],
        contract_version=ticket["contract_version"],
        no_clock_reason=ticket["no_clock_reason"],
        as_of=now,
        clocks=clocks,
    )


@router.get("/customers/{customer_id}/sla-report", response_model=ReportRead)
async def sla_report(
    customer_id: str,
    request: Request,
    principal: SlaReader,
    month: Annotated[
        Month, Query(description="YYYY-MM (2000-01 to 2099-12), in the contract's time zone")
    ],
    format: Annotated[str | None, Query(pattern="^(json|csv|html)$")] = None,
) -> Response | ReportRead:
    no_contract = ApiError(404, "customer_id: no contract", [("/path/customer_id", "no contract")])
    if not principal.sees(customer_id):
        raise no_contract  # another tenant: exactly as if it did not exist
    rt = _runtime(request)
    async with rt.db().acquire() as conn:
        now = await rt.clock.now(conn)
        report = await read_sla_report(
            conn, customer_id=customer_id, month=month, now=now, contracts=rt.contracts
        )
    if report is None:
        raise no_contract
    accept = request.headers.get("accept", "")
    if format == "csv" or (format is None and re.search(r"text/csv", accept)):
        return PlainTextResponse(to_csv(report), media_type="text/csv")
    if format == "html" or (format is None and "text/html" in accept):
        return HTMLResponse(to_html(report))
    return report


@router.get("/queue", response_model=list[QueueItemRead])
async def queue(
    request: Request,
    principal: QueueReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    customer_id: str | None = None,
) -> list[QueueItemRead]:
    rt = _runtime(request)
    async with rt.db().acquire() as conn:
        now = await rt.clock.now(conn)
        rows = await conn.fetch(QUEUE_SQL, limit, customer_id, principal.customer_scope())
    return [
        QueueItemRead(
            rank=i + 1,
            customer_id=r["customer_id"],
            ticket_id=r["ticket_id"],
            priority=r["priority"],
            tier=r["tier"],
            next_due_at=r["next_due_at"],
            seconds_to_breach=(r["next_due_at"] - now).total_seconds()
            if r["next_due_at"]
            else None,
            opened_at=r["opened_at"],
        )
        for i, r in enumerate(rows)
    ]
