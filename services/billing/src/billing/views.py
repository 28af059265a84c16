"""Thin HTTP routes over service.py, invoice_run.py and reports.py. Every change runs
in one transaction with its outbox rows (the relay publishes them)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from billing import reports, service, store
from billing.classification import Decision
from billing.invoice_run import run_invoices
from billing.models import (
    CreditNoteCreate,
    InvoiceRunCreate,
    InvoiceRunRead,
    LineItemsRead,
    ReclassifyCreate,
    RunOutcomeRead,
)
from billing.outputs import Sink
from billing.settings import BillingSettings
from msp_events.base import Identifier
from msp_events.types.billing import Period
from msp_plumbing.consumer import Tx
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import enqueue


def build_router(settings: BillingSettings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["billing"])

    def pool(request: Request) -> asyncpg.Pool:
        runtime_pool: asyncpg.Pool | None = request.app.state.runtime.pool
        if runtime_pool is None:
            raise HTTPException(503, "not started")
        return runtime_pool

    @asynccontextmanager
    async def changing(request: Request, *, exclusive: bool = False) -> AsyncIterator[Sink]:
        async with pool(request).acquire() as conn, conn.transaction():
            await store.lock_periods(conn, exclusive=exclusive)
            tx = Tx(conn=conn, namespace=settings.topic_namespace)
            sink = Sink(tx, settings.out_namespace)
            yield sink
            await enqueue(conn, settings.schema_name, tx.outbox)
            crash_point("billing.api.before_commit")

    @router.post("/invoice-runs", response_model=InvoiceRunRead)
    async def invoice_run(body: InvoiceRunCreate, request: Request) -> InvoiceRunRead:
        issued_at = (body.as_of or datetime.now(UTC)).astimezone(UTC)
        async with changing(request, exclusive=True) as sink:
            outcomes = await run_invoices(
                sink.tx.conn,
                sink,
                period=body.period,
                customer_ids=[body.customer_id] if body.customer_id else None,
                issued_at=issued_at,
                codes=settings.accounting_codes(),
            )
        return InvoiceRunRead(
            period=body.period,
            outcomes=[RunOutcomeRead(**vars(o)) for o in outcomes],
        )

    @router.get("/invoices/{invoice_id}")
    async def get_invoice(invoice_id: Identifier, request: Request) -> Response:
        payload = await pool(request).fetchval(
            "SELECT payload::text FROM invoices WHERE invoice_id = $1", invoice_id
        )
        if payload is None:
            raise HTTPException(404, f"invoice {invoice_id} not found")
        return Response(payload, media_type="application/json")

    @router.post("/invoices/{invoice_id}/credit-notes", status_code=201)
    async def credit_note(
        invoice_id: Identifier, body: CreditNoteCreate, request: Request
    ) -> Response:
        try:
            async with changing(request) as sink:
                note, created = await service.issue_credit_note(
                    sink.tx.conn,
                    sink,
                    invoice_id=invoice_id,
                    line_ids=body.line_ids,
                    reason=body.reason,
                    by=body.by,
                    at=datetime.now(UTC),
                )
        except service.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return Response(
            note.model_dump_json(),
            status_code=201 if created else 200,
            media_type="application/json",
        )

    @router.get("/review-queue", response_model=LineItemsRead)
    async def review_queue(
        request: Request, customer_id: Identifier | None = None
    ) -> LineItemsRead:
        async with pool(request).acquire() as conn:
            return LineItemsRead(
                line_items=await reports.review_queue(conn, customer_id=customer_id)
            )

    @router.post("/line-items/{line_item_id}/reclassify", response_model=LineItemsRead)
    async def reclassify(
        line_item_id: Identifier, body: ReclassifyCreate, request: Request
    ) -> LineItemsRead:
        decision = Decision(
            body.classification,
            "manual_review",
            f"{body.reason} (by {body.by})",
            body.change_order_id,
        )
        try:
            async with changing(request) as sink:
                items = await service.reclassify(
                    sink.tx.conn,
                    sink,
                    line_item_id=line_item_id,
                    decision=decision,
                    by=body.by,
                    at=datetime.now(UTC),
                )
        except service.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except service.Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        return LineItemsRead(line_items=[i.model_dump(mode="json") for i in items])

    @router.get("/customers/{customer_id}/ledger/{period}", response_model=None)
    async def ledger(
        customer_id: Identifier,
        period: Period,
        request: Request,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        async with pool(request).acquire() as conn:
            lines = await reports.ledger(conn, customer_id=customer_id, period=period)
        if format == "csv":
            return Response(_csv(lines), media_type="text/csv")
        return {"customer_id": customer_id, "period": period, "line_items": lines}

    @router.get("/reports/scope-creep")
    async def scope_creep(
        request: Request, customer_id: Identifier | None = None, period: Period | None = None
    ) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            found = await reports.scope_creep(conn, customer_id=customer_id, period=period)
        return {"period": period, "customers": found}

    @router.get("/reports/hours")
    async def hours(
        request: Request, customer_id: Identifier | None = None, period: Period | None = None
    ) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            found = await reports.hours(conn, customer_id=customer_id, period=period)
        return {"period": period, "customers": found}

    return router


CSV_FIELDS = (
    "line_item_id",
    "work_date",
    "ticket_id",
    "entry_id",
    "classification",
    "rule",
    "reason",
    "minutes_worked",
    "minutes_billed",
    "rate",
    "multiplier",
    "amount",
    "currency",
    "prior_period",
    "change_order_id",
    "invoice_id",
)


def _csv(lines: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()
