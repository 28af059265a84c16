"""HTTP routes (thin): the incident queue, one incident, and the triage log. Each
declares its permission; a customer-scoped caller sees only its customers, and another
customer's incident is answered exactly like a missing one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request

from incidents import service
from incidents.models import IncidentDetail, IncidentPage, TriageRecord
from msp_access.dependency import require
from msp_access.errors import ApiError, not_found
from msp_access.principal import Principal
from msp_access.roles import Permission

IncidentsReader = Annotated[Principal, require(Permission.INCIDENTS_READ)]
TriageReader = Annotated[Principal, require(Permission.TRIAGE_READ)]

router = APIRouter(prefix="/v1", tags=["incidents"])


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool | None = request.app.state.runtime.pool
    if pool is None:
        raise HTTPException(503, "not started")
    return pool


@router.get("/incidents", response_model=IncidentPage)
async def list_incidents(
    request: Request,
    principal: IncidentsReader,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    status: Literal["open", "resolved"] | None = None,
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IncidentPage:
    for name, value in (("opened_from", opened_from), ("opened_to", opened_to)):
        if value is not None and value.tzinfo is None:
            raise ApiError(
                422,
                f"{name}: give a timezone offset (e.g. Z)",
                [(f"/query/{name}", "give a timezone offset (e.g. Z)")],
            )
    if customer_id is not None and not principal.sees(customer_id):
        return IncidentPage(items=[])  # another tenant: as if it had no incidents
    async with _pool(request).acquire() as conn:
        items = await service.list_incidents(
            conn,
            customer_id=customer_id,
            status=status,
            priority=priority,
            opened_from=opened_from,
            opened_to=opened_to,
            limit=limit,
            scope=principal.customer_scope(),
        )
    return IncidentPage(items=items)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
async def get_incident(
    request: Request, incident_id: str, principal: IncidentsReader
) -> IncidentDetail:
    async with _pool(request).acquire() as conn:
        found = await service.get_incident(conn, incident_id=incident_id)
    if found is None or not principal.sees(found.customer_id):
        raise not_found("incident_id", f"no incident {incident_id!r}")
    return found


@router.get("/triage-log", response_model=list[TriageRecord])
async def triage_log(
    request: Request,
    principal: TriageReader,
    customer_id: Annotated[str, Query(min_length=1, max_length=128)],
    outcome: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TriageRecord]:
    if not principal.sees(customer_id):
        return []
    async with _pool(request).acquire() as conn:
        return await service.list_triage_records(
            conn, customer_id=customer_id, outcome=outcome, limit=limit
        )
