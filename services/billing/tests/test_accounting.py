"""The accounting hand-off's pure rules: every invoice and credit note maps onto a Xero
and a QuickBooks Online document that the vendor's shapes accept, whose lines sum to
the source to the cent, with ids and bytes that a re-run reproduces."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from accounting_checks import PayloadError, check_qbo, check_xero, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.accounting.handoff import TARGETS, prepare
from billing.accounting.maps import AccountingMaps
from msp_events.money import minor_unit
from msp_events.types.billing import CreditNoteIssued, InvoiceIssued, InvoiceLine, line_amount

ISSUED = dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)
MAPS = AccountingMaps.model_validate(
    {
        "contacts": {
            "cust-001": {
                "xero_contact_id": "6d3c4e1a-1f0b-4d0e-9c55-3f1f0b2a7e10",
                "qbo_customer_id": "58",
                "name": "Acme Ltd",
                "payment_terms_days": 14,
            }
        },
        "items": {
            "flat_fee": {"xero_item_code": "MANAGED", "xero_account_code": "200",
                         "xero_tax_type": "OUTPUT2", "qbo_item_id": "11", "qbo_tax_code": "TAX"},
            "project": {"qbo_item_id": "12"},
        },
    }
)  # fmt: skip


def fee_line(amount: str, currency: str = "USD") -> InvoiceLine:
    return InvoiceLine(
        line_id="il-fee", description="Managed services, March 2026", currency=currency,
        quantity=Decimal(1), unit_amount=Decimal(amount), line_amount=Decimal(amount),
        item_code="MSP-MANAGED", account_code="200", classification="flat_fee",
        service_date=dt.date(2026, 3, 31),
    )  # fmt: skip


def work_line(
    n: int, hours: str, rate: str, kind: str = "project", currency: str = "USD"
) -> InvoiceLine:
    q, u = Decimal(hours), Decimal(rate)
    return InvoiceLine(
        line_id=f"il-{n}", description=f"Work {n}", currency=currency, quantity=q,
        unit_amount=u, line_amount=line_amount(q, u, currency), item_code="MSP-PROJECT-HOUR",
        account_code="200", classification=kind,  # type: ignore[arg-type]
        source_line_item_ids=[f"li-{n}"], service_date=dt.date(2026, 3, 10 + n),
    )  # fmt: skip


def invoice(lines: list[InvoiceLine], currency: str = "USD") -> InvoiceIssued:
    subtotal = sum((line.line_amount for line in lines), Decimal(0))
    return InvoiceIssued(
        invoice_id="inv-0e3f", period="2026-03", currency=currency, issued_at=ISSUED,
        lines=lines, subtotal=subtotal, tax_total=Decimal(0), total=subtotal,
    )  # fmt: skip


def credit(lines: list[InvoiceLine], currency: str = "USD") -> CreditNoteIssued:
    return CreditNoteIssued(
        credit_note_id="cn-77", invoice_id="inv-0e3f", reason="SLA credit",
        issued_at=ISSUED + dt.timedelta(days=2), currency=currency, lines=lines,
        total=sum((line.line_amount for line in lines), Decimal(0)),
    )  # fmt: skip


def test_xero_invoice_is_accrec_with_the_mapped_contact_codes_and_due_date() -> None:
    doc = prepare(invoice([fee_line("3000.00"), work_line(1, "1.5", "142.50")]),
                  customer_id="cust-001", target="xero", maps=MAPS)  # fmt: skip
    body = parse(doc.document)["Invoices"][0]
    assert doc.resource == "Invoices" and body["Type"] == "ACCREC"
    assert body["Contact"] == {"ContactID": "6d3c4e1a-1f0b-4d0e-9c55-3f1f0b2a7e10"}
    assert (body["Date"], body["DueDate"]) == ("2026-04-01", "2026-04-15")  # 14 days' terms
    fee, work = body["LineItems"]
    assert (fee["ItemCode"], fee["AccountCode"], fee["TaxType"]) == ("MANAGED", "200", "OUTPUT2")
    assert (work["ItemCode"], work["AccountCode"]) == ("MSP-PROJECT-HOUR", "200")  # the line's own
    assert work["LineAmount"] == Decimal("213.75") and '"LineAmount":213.75' in doc.document
    assert doc.unmapped == []
    check_xero(doc.resource, doc.document)


def test_qbo_invoice_and_credit_memo_with_refs_and_short_doc_numbers() -> None:
    inv = prepare(invoice([fee_line("3000.00"), work_line(1, "2", "95.00", "on_demand")]),
                  customer_id="cust-001", target="qbo", maps=MAPS)  # fmt: skip
    body = parse(inv.document)
    assert inv.resource == "invoice"
    assert body["CustomerRef"] == {"value": "58", "name": "Acme Ltd"}
    assert len(body["DocNumber"]) <= 21 and body["DocNumber"].startswith("INV-")
    fee, work = body["Line"]
    assert fee["SalesItemLineDetail"]["ItemRef"] == {"value": "11"}
    assert fee["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}
    assert work["SalesItemLineDetail"]["ItemRef"] == {"value": "MSP-PROJECT-HOUR"}
    assert inv.unmapped == ["items/on_demand/qbo_item_id"]
    check_qbo(inv.document)
    memo = prepare(credit([fee_line("3000.00")]), customer_id="cust-001", target="qbo", maps=MAPS)
    assert memo.resource == "creditmemo" and "DueDate" not in parse(memo.document)
    check_qbo(memo.document)


def test_unmapped_customer_falls_back_to_its_id_and_says_so() -> None:
    xero = prepare(invoice([fee_line("10.00")]), customer_id="cust-009", target="xero", maps=MAPS)
    assert parse(xero.document)["Invoices"][0]["Contact"] == {
        "ContactNumber": "cust-009", "Name": "cust-009"
    }  # fmt: skip
    assert xero.unmapped == ["contacts/cust-009/xero_contact_id"]
    assert parse(xero.document)["Invoices"][0]["DueDate"] == "2026-05-01"  # default 30 days
    qbo = prepare(invoice([fee_line("10.00")]), customer_id="cust-009", target="qbo", maps=MAPS)
    assert qbo.unmapped == ["contacts/cust-009/qbo_customer_id"]


def test_the_checks_refuse_what_the_vendors_refuse() -> None:
    doc = prepare(invoice([fee_line("10.00")]), customer_id="cust-001", target="xero", maps=MAPS)
    body = json.loads(doc.document)
    body["Invoices"][0]["Type"] = "SALES"
    with pytest.raises(PayloadError, match=r"/Invoices/0: Invalid value for `type` \(SALES\)"):
        check_xero("Invoices", json.dumps(body))
    body["Invoices"][0].update(Type="ACCREC", Totl=10)
    with pytest.raises(PayloadError, match="/Invoices/0/Totl: not a property"):
        check_xero("Invoices", json.dumps(body))
    qbo = json.loads(prepare(invoice([fee_line("10.00")]), customer_id="cust-001", target="qbo",
                             maps=MAPS).document)  # fmt: skip
    qbo["DocNumber"] = "X" * 22
    with pytest.raises(PayloadError, match="/DocNumber"):
        check_qbo(json.dumps(qbo))


def test_maps_refuse_unknown_keys_naming_them() -> None:
    with pytest.raises(ValueError, match=r"contacts\.cust-1\.xero_contact"):
        AccountingMaps.model_validate({"contacts": {"cust-1": {"xero_contact": "x"}}})


CURRENCIES = st.sampled_from(["USD", "EUR", "GBP", "JPY", "AUD", "KWD"])


@st.composite
def documents(draw: st.DrawFn) -> InvoiceIssued | CreditNoteIssued:
    currency = draw(CURRENCIES)
    places = minor_unit(currency)
    lines = []
    for n in range(draw(st.integers(1, 12))):
        hours = Decimal(draw(st.integers(1, 4000))) / 20  # 3-minute steps
        rate = Decimal(draw(st.integers(0, 10**6))) / 10 ** min(places + 2, 4)
        kind = draw(st.sampled_from(["project", "on_demand", "warranty"]))
        if kind == "warranty":
            rate = Decimal(0)
        lines.append(work_line(n, str(hours), str(rate), kind, currency))
    if draw(st.booleans()):
        return invoice(lines, currency)
    return credit(lines, currency)


@settings(max_examples=60, deadline=None)
@given(source=documents(), customer=st.sampled_from(["cust-001", "cust-042"]))
def test_every_document_validates_sums_to_the_cent_and_is_reproducible(
    source: InvoiceIssued | CreditNoteIssued, customer: str
) -> None:
    expected = source.subtotal if isinstance(source, InvoiceIssued) else source.total
    ids = set()
    for target in TARGETS:
        doc = prepare(source, customer_id=customer, target=target, maps=MAPS)
        again = prepare(source, customer_id=customer, target=target, maps=MAPS)
        assert again == doc  # a re-run: same id, number and bytes
        ids.add(doc.document_id)
        uuid.UUID(doc.document_id.split("-", 1)[1])
        body = parse(doc.document)
        if target == "xero":
            check_xero(doc.resource, doc.document)
            [entity] = body[doc.resource]
            amounts = [line["LineAmount"] for line in entity["LineItems"]]
        else:
            check_qbo(doc.document)
            amounts = [line["Amount"] for line in body["Line"]]
        assert sum(amounts, Decimal(0)) == expected == doc.subtotal
    assert len(ids) == len(TARGETS)
