"""HTTP routes (thin): the delivery log. A customer-scoped caller sees only its
customers' deliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from msp_access.dependency import require
from msp_access.errors import ApiError
from msp_access.principal import Principal
from msp_access.roles import Permission
from notify import service
from notify.models import (
    AttemptRead,
    ChannelName,
    DeliveriesRead,
    Status,
    delivery_read,
)
from notify.runtime import NotifyRuntime

router = APIRouter(prefix="/v1", tags=["notify"])
DeliveryReader = Annotated[Principal, require(Permission.DELIVERIES_READ)]


@router.get("/deliveries", response_model=DeliveriesRead)
async def deliveries(
    request: Request,
    principal: DeliveryReader,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Status | None = None,
    channel: ChannelName | None = None,
    event_id: Annotated[str | None, Query(max_length=128)] = None,
    before: Annotated[datetime | None, Query(description="Only deliveries created before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveriesRead:
    """The delivery log, newest first: each delivery (one event, one recipient, one
    channel) with its status and every attempt. `status=dead`: the dead-lettered ones."""
    if before is not None and before.tzinfo is None:
        raise ApiError(422, "before: give a timezone offset", [("/query/before", "naive")])
    runtime: NotifyRuntime = request.app.state.runtime
    if runtime.pool is None:
        raise ApiError(503, "starting up", headers={"Retry-After": "1"})
    if customer_id is not None and not principal.sees(customer_id):
        return DeliveriesRead(deliveries=[], next_before=None)  # like a customer with none
    async with runtime.pool.acquire() as conn:
        rows, attempts = await service.list_deliveries(
            conn,
            scope=principal.customer_scope(),
            customer_id=customer_id,
            status=status,
            channel=channel,
            event_id=event_id,
            before=before,
            limit=limit,
        )
    found = []
    for row in rows:
        record = dict(row)
        if isinstance(record["message"], str):
            record["message"] = json.loads(record["message"])
        log = [AttemptRead.model_validate(dict(a)) for a in attempts[row["delivery_id"]]]
        found.append(delivery_read(record, log))
    last = found[-1].created_at if len(found) == limit else None
    return DeliveriesRead(deliveries=found, next_before=last)
