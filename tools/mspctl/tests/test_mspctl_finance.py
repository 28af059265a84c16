"""`mspctl finance export` on the real broker: the accounting documents on the topic
become one file per document (the published request body, byte for byte) and an index,
per target; exporting again writes the same bytes; a record that does not decode is
reported and fails the command, the good ones are still written."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from billing.accounting.handoff import prepare
from billing.accounting.maps import AccountingMaps
from msp_devstack.testing import create_topics
from msp_devstack.testkit import produce
from msp_events import derive_event_id, make_event
from msp_events.topics import FINANCE_ACCOUNTING
from msp_events.types.billing import InvoiceIssued, InvoiceLine
from mspctl.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def invoice(n: int, amount: str) -> InvoiceIssued:
    line = InvoiceLine(
        line_id=f"il-{n}", description="Managed services", currency="USD",
        quantity=Decimal(1), unit_amount=Decimal(amount), line_amount=Decimal(amount),
        item_code="MSP-MANAGED", classification="flat_fee",
    )  # fmt: skip
    return InvoiceIssued(
        invoice_id=f"inv-{n}", period="2026-03", currency="USD",
        issued_at=dt.datetime(2026, 4, 1, 6, tzinfo=dt.UTC), lines=[line],
        subtotal=Decimal(amount), tax_total=Decimal(0), total=Decimal(amount),
    )  # fmt: skip


def test_export_writes_each_document_and_an_index_reproducibly(
    kafka_bootstrap: str, namespace: str, tmp_path: Path
) -> None:
    # mspctl runs its own event loop: this test is synchronous
    asyncio.run(create_topics(kafka_bootstrap, [FINANCE_ACCOUNTING], namespace=namespace))
    docs = {
        (customer, target): prepare(
            invoice(n, amount), customer_id=customer, target=target, maps=AccountingMaps()
        )
        for n, (customer, amount) in enumerate([("cust-a", "100.00"), ("cust-b", "250.50")])
        for target in ("xero", "qbo")
    }
    events = [
        make_event(
            doc,
            customer_id=customer,
            source="/billing/accounting",
            time=dt.datetime(2026, 4, 1, 6, tzinfo=dt.UTC),
            subject=doc.document_id,
            id=derive_event_id(doc.document_id, "prepared"),
        )
        for (customer, _), doc in docs.items()
    ]
    topic = FINANCE_ACCOUNTING.named(namespace)
    # delivered twice: one file each
    asyncio.run(produce(kafka_bootstrap, topic, events + events))
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "MSP_TOPIC_NAMESPACE": namespace}

    result = runner.invoke(
        app, ["finance", "export", "--target", "xero", "--out", str(tmp_path)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 xero document(s)" in result.output
    assert "contacts/cust-a/xero_contact_id" in result.output  # what finance must still map
    index = json.loads((tmp_path / "xero" / "index.json").read_text())
    assert [e["customer_id"] for e in sorted(index, key=lambda e: e["customer_id"])] == [
        "cust-a",
        "cust-b",
    ]
    for entry in index:
        doc = docs[entry["customer_id"], "xero"]
        assert entry["document_id"] == doc.document_id and entry["resource"] == "Invoices"
        assert (tmp_path / "xero" / entry["file"]).read_text() == doc.document + "\n"
    before = {p: p.read_bytes() for p in (tmp_path / "xero").rglob("*") if p.is_file()}
    again = runner.invoke(
        app, ["finance", "export", "--target", "xero", "--out", str(tmp_path)], env=env
    )
    assert again.exit_code == 0, again.output
    assert {p: p.read_bytes() for p in (tmp_path / "xero").rglob("*") if p.is_file()} == before

    argv = ["finance", "export", "--target", "qbo", "--customer", "cust-b"]
    only_b = runner.invoke(app, [*argv, "--out", str(tmp_path)], env=env)
    assert only_b.exit_code == 0, only_b.output
    [entry] = json.loads((tmp_path / "qbo" / "index.json").read_text())
    assert entry["file"].startswith("invoice/") and entry["subtotal"] == "250.50"

    asyncio.run(produce(kafka_bootstrap, topic, raw=[(b"cust-a", b"{not json")]))
    bad = runner.invoke(
        app, ["finance", "export", "--target", "xero", "--out", str(tmp_path)], env=env
    )
    assert bad.exit_code == 1 and "1 record(s)" in bad.output and "undecodable" in bad.output
    assert len(json.loads((tmp_path / "xero" / "index.json").read_text())) == 2


def test_export_refuses_an_unknown_target(tmp_path: Path) -> None:
    result = runner.invoke(app, ["finance", "export", "--target", "sage", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "sage" in result.output
