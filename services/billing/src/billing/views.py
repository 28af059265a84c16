"""Thin HTTP routes over service.py, invoice_run.py and reports.py. Every change runs
in one transaction with its outbox rows (the relay publishes them) and its audit
record, which names the authenticated caller (never a body field). Every route declares
its permission; a customer-scoped caller sees and acts only for its customers, and
another customer's object is answered exactly like a missing one."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from billing import assets, reconciliation, reports, service, store
from billing.classification import Decision
from billing.invoice_run import RunOutcome, run_invoices
from billing.margin_views import record_margins
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
from msp_access import audit
from msp_access.dependency import require
from msp_access.errors import not_found
from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_events.base import Identifier
from msp_events.types.billing import Actor, Period
from msp_plumbing.consumer import Tx
from msp_plumbing.crashpoints import crash_point
from msp_plumbing.outbox import enqueue

Writer = Annotated[Principal, require(Permission.BILLING_WRITE)]
InvoiceReader = Annotated[Principal, require(Permission.INVOICES_READ)]
ReportReader = Annotated[Principal, require(Permission.BILLING_REPORTS)]


def build_router(settings: BillingSettings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["billing"])

    async def audited(
        sink: Sink,
        principal: Principal,
        action: str,
        *,
        customer_id: str | None = None,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """The audit record of a change, in the change's own transaction."""
        await audit.record(
            sink.tx.conn,
            schema=settings.access_schema_name,
            service="billing",
            action=action,
            principal=principal,
            customer_id=customer_id,
            object_id=object_id,
            details=details,
        )

    def pool(request: Request) -> asyncpg.Pool:
        runtime_pool: asyncpg.Pool | None = request.app.state.runtime.pool
        if runtime_pool is None:
            raise HTTPException(503, "not started")
        return runtime_pool

    @asynccontextmanager
    async def changing(
        request: Request, principal: Principal, *, exclusive: bool = False
    ) -> AsyncIterator[Sink]:
        """One transaction for the change, its events (each naming `principal` as its
        actor) and its audit record."""
        async with pool(request).acquire() as conn, conn.transaction():
            await store.lock_periods(conn, exclusive=exclusive)
            tx = Tx(conn=conn, namespace=settings.topic_namespace)
            sink = Sink(tx, settings.out_namespace, actor=Actor(**principal.actor()))
            yield sink
            await enqueue(conn, settings.schema_name, tx.outbox)
            crash_point("billing.api.before_commit")

    @router.post("/invoice-runs", response_model=InvoiceRunRead)
    async def invoice_run(
        body: InvoiceRunCreate, request: Request, principal: Writer
    ) -> InvoiceRunRead:
        """The month's invoices: for one customer, else for every customer the caller
        may act for."""
        issued_at = (body.as_of or datetime.now(UTC)).astimezone(UTC)
        if body.customer_id and not principal.sees(body.customer_id):
            unknown = RunOutcome(body.customer_id, "failed", detail="no contract known")
            return InvoiceRunRead(period=body.period, outcomes=[RunOutcomeRead(**vars(unknown))])
        chosen = [body.customer_id] if body.customer_id else principal.customer_scope()
        async with changing(request, principal, exclusive=True) as sink:
            outcomes = await run_invoices(
                sink.tx.conn,
                sink,
                period=body.period,
                customer_ids=chosen,
                issued_at=issued_at,
                codes=settings.accounting_codes(),
            )
            await audited(
                sink,
                principal,
                "invoice_run",
                customer_id=body.customer_id,
                object_id=body.period,
                details={"outcomes": {o.customer_id: o.outcome for o in outcomes}},
            )
        issued = [o.customer_id for o in outcomes if o.outcome == "issued"]
        if issued:  # after the commit: the margin of what was just invoiced
            await record_margins(pool(request), settings, period=body.period, customer_ids=issued)
        return InvoiceRunRead(
            period=body.period,
            outcomes=[RunOutcomeRead(**vars(o)) for o in outcomes],
        )

    @router.get("/invoices/{invoice_id}")
    async def get_invoice(
        invoice_id: Identifier, request: Request, principal: InvoiceReader
    ) -> Response:
        row = await pool(request).fetchrow(
            "SELECT customer_id, payload::text AS payload FROM invoices WHERE invoice_id = $1",
            invoice_id,
        )
        if row is None or not principal.sees(row["customer_id"]):
            raise not_found("invoice_id", f"invoice {invoice_id} not found")
        return Response(row["payload"], media_type="application/json")

    @router.post("/invoices/{invoice_id}/credit-notes", status_code=201)
    async def credit_note(
        invoice_id: Identifier, body: CreditNoteCreate, request: Request, principal: Writer
    ) -> Response:
        try:
            async with changing(request, principal) as sink:
                note, created = await service.issue_credit_note(
                    sink.tx.conn,
                    sink,
                    invoice_id=invoice_id,
                    line_ids=body.line_ids,
                    reason=body.reason,
                    by=principal.display_name,
                    at=datetime.now(UTC),
                    scope=principal.customer_scope(),
                )
                if created:
                    await audited(
                        sink,
                        principal,
                        "credit_note",
                        customer_id=await sink.tx.conn.fetchval(
                            "SELECT customer_id FROM invoices WHERE invoice_id = $1", invoice_id
                        ),
                        object_id=invoice_id,
                        details={"credit_note_id": note.credit_note_id, "lines": body.line_ids},
                    )
        except service.NotFound:
            raise not_found("invoice_id", f"invoice {invoice_id} not found") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return Response(
            note.model_dump_json(),
            status_code=201 if created else 200,
            media_type="application/json",
        )

    @router.get("/review-queue", response_model=LineItemsRead)
    async def review_queue(
        request: Request, principal: ReportReader, customer_id: Identifier | None = None
    ) -> LineItemsRead:
        async with pool(request).acquire() as conn:
            return LineItemsRead(
                line_items=await reports.review_queue(
                    conn, customer_id=customer_id, scope=principal.customer_scope()
                )
            )

    @router.post("/line-items/{line_item_id}/reclassify", response_model=LineItemsRead)
    async def reclassify(
        line_item_id: Identifier, body: ReclassifyCreate, request: Request, principal: Writer
    ) -> LineItemsRead:
        decision = Decision(
            body.classification,
            "manual_review",
            f"{body.reason} (by {principal.display_name})",
            body.change_order_id,
        )
        try:
            async with changing(request, principal) as sink:
                items = await service.reclassify(
                    sink.tx.conn,
                    sink,
                    line_item_id=line_item_id,
                    decision=decision,
                    by=principal.display_name,
                    at=datetime.now(UTC),
                    scope=principal.customer_scope(),
                )
                await audited(
                    sink,
                    principal,
                    "reclassify",
                    customer_id=await sink.tx.conn.fetchval(
                        "SELECT customer_id FROM line_items WHERE line_item_id = $1",
                        line_item_id,
                    ),
                    object_id=line_item_id,
                    details={"classification": body.classification, "reason": body.reason},
                )
        except service.NotFound:
            raise not_found("line_item_id", f"line item {line_item_id} not found") from None
        except service.Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        return LineItemsRead(line_items=[i.model_dump(mode="json") for i in items])

    @router.get("/customers/{customer_id}/ledger/{period}", response_model=None)
    async def ledger(
        customer_id: Identifier,
        period: Period,
        request: Request,
        principal: InvoiceReader,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        if not principal.sees(customer_id):
            lines: list[dict[str, Any]] = []  # another tenant: as if it had no lines
            return (
                Response(_csv(lines), media_type="text/csv")
                if format == "csv"
                else {"customer_id": customer_id, "period": period, "line_items": lines}
            )
        async with pool(request).acquire() as conn:
            lines = await reports.ledger(conn, customer_id=customer_id, period=period)
        if format == "csv":
            return Response(_csv(lines), media_type="text/csv")
        return {"customer_id": customer_id, "period": period, "line_items": lines}

    @router.get("/reports/scope-creep")
    async def scope_creep(
        request: Request,
        principal: ReportReader,
        customer_id: Identifier | None = None,
        period: Period | None = None,
    ) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            found = await reports.scope_creep(
                conn, customer_id=customer_id, period=period, scope=principal.customer_scope()
            )
        return {"period": period, "customers": found}

    @router.get("/reports/hours")
    async def hours(
        request: Request,
        principal: ReportReader,
        customer_id: Identifier | None = None,
        period: Period | None = None,
    ) -> dict[str, Any]:
        async with pool(request).acquire() as conn:
            found = await reports.hours(
                conn, customer_id=customer_id, period=period, scope=principal.customer_scope()
            )
        return {"period": period, "customers": found}

    @router.get("/customers/{customer_id}/reconciliation/{period}", response_model=None)
    async def reconciliation_of(
        customer_id: Identifier,
        period: Period,
        request: Request,
        principal: InvoiceReader,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        """Contracted vs seen devices and users, new and missing assets (JSON or CSV)."""
        found: list[dict[str, Any]] = []
        if principal.sees(customer_id):  # another tenant's: as unknown as a missing one
            async with pool(request).acquire() as conn:
                found = await assets.load_reconciliations(
                    conn, period=period, customer_ids=[customer_id]
                )
        if not found:
            raise not_found("customer_id", "no contract known for this customer")
        if format == "csv":
            return Response(_reconciliation_csv(found), media_type="text/csv")
        return found[0]

    @router.get("/reports/reconciliation", response_model=None)
    async def reconciliations(
        request: Request,
        principal: InvoiceReader,
        period: Period,
        customer_id: Identifier | None = None,
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Any:
        """Every customer's reconciliation the caller may see (or one customer's)."""
        chosen = principal.customer_scope()
        if customer_id is not None:
            chosen = [customer_id] if principal.sees(customer_id) else []
        async with pool(request).acquire() as conn:
            found = await assets.load_reconciliations(conn, period=period, customer_ids=chosen)
        if format == "csv":
            return Response(_reconciliation_csv(found), media_type="text/csv")
        return {"period": period, "customers": found}

    return router


def _reconciliation_csv(reports: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reconciliation.CSV_FIELDS)
    writer.writeheader()
    for report in reports:
        writer.writerows(reconciliation.csv_rows(report))
    return out.getvalue()


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
