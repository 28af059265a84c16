"""`mspctl finance export --target xero|qbo --out DIR`: the accounting documents that
billing's hand-off published on `msp.finance.accounting.v1`, written as files finance
can post (one request body per document) with an index. Deterministic: the same topic
gives the same files, byte for byte, however often it is exported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from msp_events import EventValidationError, decode
from msp_events.topics import FINANCE_ACCOUNTING
from msp_events.types.finance import AccountingDocumentPrepared
from mspctl.common import fail, load_settings, stderr
from mspctl.kafka_io import TopicMissing, records

app = typer.Typer(
    help="Finance hand-off: accounting documents (Xero, QuickBooks Online) as files.",
    no_args_is_help=True,
)


async def read_documents(
    bootstrap: str, topic: str, *, target: str, customer: str | None
) -> tuple[dict[str, tuple[str, AccountingDocumentPrepared]], int]:
    """The latest document per id for `target` (and `customer`), and how many records
    did not decode (reported, never silently dropped)."""
    found: dict[str, tuple[str, AccountingDocumentPrepared]] = {}
    bad = 0
    async for record in records(bootstrap, topic):
        try:
            event = decode(record.value or b"")
        except EventValidationError as exc:
            bad += 1
            stderr(f"p{record.partition}@{record.offset}: undecodable record skipped: {exc}")
            continue
        doc = event.data
        if not isinstance(doc, AccountingDocumentPrepared) or doc.target != target:
            continue
        if customer is None or event.customer_id == customer:
            found[doc.document_id] = (event.customer_id, doc)
    return found, bad


def write_documents(
    out: Path, target: str, documents: dict[str, tuple[str, AccountingDocumentPrepared]]
) -> list[dict[str, Any]]:
    """One `<resource>/<document_id>.json` per document (the request body as published)
    and `index.json` (sorted by id) under `out/<target>/`."""
    base = out / target
    index = []
    for document_id in sorted(documents):
        customer_id, doc = documents[document_id]
        path = base / doc.resource / f"{document_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc.document + "\n", encoding="utf-8")
        index.append(
            {
                "document_id": document_id,
                "idempotency_key": document_id,
                "customer_id": customer_id,
                "kind": doc.kind,
                "resource": doc.resource,
                "source_id": doc.source_id,
                "invoice_id": doc.invoice_id,
                "document_number": doc.document_number,
                "currency": doc.currency,
                "subtotal": str(doc.subtotal),
                "unmapped": doc.unmapped,
                "file": str(path.relative_to(base)),
            }
        )
    base.mkdir(parents=True, exist_ok=True)
    (base / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return index


@app.command("export")
def export(
    target: Annotated[Literal["xero", "qbo"], typer.Option(help="accounting system")],
    out: Annotated[Path, typer.Option(help="folder to write into (created)")],
    customer: Annotated[str | None, typer.Option(help="only this customer's documents")] = None,
) -> None:
    """Write the accounting documents for `--target` as files: `OUT/TARGET/<resource>/
    <document_id>.json` (the request body to POST, e.g. Xero `Invoices`, QuickBooks
    `invoice`) and `OUT/TARGET/index.json`. The document id is the idempotency key
    (Xero `Idempotency-Key` header, QuickBooks `requestid` parameter).

    Example: mspctl finance export --target xero --out ./finance
    """
    settings = load_settings()
    topic = FINANCE_ACCOUNTING.named(settings.topic_namespace)
    try:
        documents, bad = asyncio.run(
            read_documents(
                settings.kafka_bootstrap_servers, topic, target=target, customer=customer
            )
        )
    except TopicMissing as exc:
        fail(str(exc))
    index = write_documents(out, target, documents)
    unmapped = sorted({u for entry in index for u in entry["unmapped"]})
    typer.echo(f"wrote {len(index)} {target} document(s) to {out / target}")
    if unmapped:
        typer.echo(f"map entries missing (defaults used): {', '.join(unmapped)}")
    if bad:
        fail(f"{bad} record(s) on {topic} did not decode (listed above)")
