"""Thin routes over margin_reports.py: margin per customer and utilisation per
technician for a billing period, as JSON or CSV. Both need `billing:reports` (the
billing role); a customer-scoped caller sees only its customers' figures."""

from __future__ import annotations

import csv
import io
import logging
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from billing import margin_reports, metrics
from billing.settings import BillingSettings
from msp_access.dependency import require
from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_events.base import Identifier
from msp_events.types.billing import Period

ReportReader = Annotated[Principal, require(Permission.BILLING_REPORTS)]
log = logging.getLogger(__name__)

MARGIN_CSV = (
    "customer_id", "period", "currency", "invoice_id", "revenue", "cost", "margin",
    "margin_ratio", "hours_worked", "uncosted_hours",
)  # fmt: skip
UTILISATION_CSV = (
    "technician_id", "hours_worked", "billable_hours", "covered_hours", "project_hours",
    "billable_ratio",
)  # fmt: skip


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool | None = request.app.state.runtime.pool
    if pool is None:
        raise HTTPException(503, "not started")
    return pool


def _csv(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv")


def build_margin_router(settings: BillingSettings) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["billing"])

    @router.get("/margin")
    async def margin(
        request: Request,
        principal: ReportReader,
        period: Period,
        customer_id: Identifier | None = None,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        """Revenue (invoiced, less credit notes), the technicians' cost of the period's
        work and the margin, per customer."""
        async with _pool(request).acquire() as conn:
            rows = await margin_reports.margins(
                conn, period=period, customer_id=customer_id,
                scope=principal.customer_scope(), rates=settings.technician_cost_rates,
            )  # fmt: skip
        if format == "csv":
            return _csv(rows, MARGIN_CSV)
        return {"period": period, "customers": rows}

    @router.get("/utilisation")
    async def utilisation(
        request: Request,
        principal: ReportReader,
        period: Period,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        """Hours per technician: billable (project, on-demand, overage), covered,
        project, and the billable share of the hours worked."""
        async with _pool(request).acquire() as conn:
            rows = await margin_reports.technicians(
                conn, period=period, scope=principal.customer_scope()
            )
        if format == "csv":
            return _csv(rows, UTILISATION_CSV)
        return {"period": period, "technicians": rows}

    return router


async def record_margins(
    pool: asyncpg.Pool, settings: BillingSettings, *, period: str, customer_ids: list[str]
) -> None:
    """After an invoice run: the issued customers' margin ratio on /metrics. The run is
    committed by then: a failure here is logged, never turned into a failed run."""
    try:
        await _record(pool, settings, period=period, customer_ids=customer_ids)
    except (asyncpg.PostgresError, OSError) as exc:
        log.warning("margin gauges not updated after the invoice run: %s", exc)


async def _record(
    pool: asyncpg.Pool, settings: BillingSettings, *, period: str, customer_ids: list[str]
) -> None:
    async with pool.acquire() as conn:
        for customer_id in customer_ids:
            rows = await margin_reports.margins(
                conn, period=period, customer_id=customer_id, scope=None,
                rates=settings.technician_cost_rates,
            )  # fmt: skip
            for row in rows:
                if row["margin_ratio"] is not None:
                    metrics.MARGIN_RATIO.labels(customer_id, row["currency"]).set(
                        float(row["margin_ratio"])  # a gauge is a float; the API has the Decimal
                    )
