"""QuickBooks Online Accounting API (v3) request bodies: `Invoice` and `CreditMemo`,
in the JSON form of Intuit's published entity schema (vendored in
vendor/quickbooks-v3-xsd/): a reference is `{"value": id, "name": ...}`, each line a
`SalesItemLineDetail`. QuickBooks computes tax from each line's TaxCodeRef."""

from __future__ import annotations

from typing import Any

from billing.accounting.documents import Source, due_date
from billing.accounting.maps import AccountingMaps
from msp_events.types.billing import InvoiceLine


def customer_ref(source: Source, maps: AccountingMaps, unmapped: list[str]) -> dict[str, Any]:
    mapped = maps.contact(source.customer_id)
    ref: dict[str, Any] = {}
    if mapped is not None and mapped.qbo_customer_id is not None:
        ref["value"] = mapped.qbo_customer_id
    else:
        unmapped.append(f"contacts/{source.customer_id}/qbo_customer_id")
        ref["value"] = source.customer_id
    if mapped is not None and mapped.name:
        ref["name"] = mapped.name
    return ref


def line(
    number: int, line: InvoiceLine, maps: AccountingMaps, unmapped: list[str]
) -> dict[str, Any]:
    item = maps.item(line.classification)
    if item.qbo_item_id is None:
        unmapped.append(f"items/{line.classification}/qbo_item_id")
    detail: dict[str, Any] = {
        "ItemRef": {"value": item.qbo_item_id or line.item_code or line.classification},
        "UnitPrice": line.unit_amount,
        "Qty": line.quantity,
    }
    tax = item.qbo_tax_code or line.tax_code
    if tax is not None:
        detail["TaxCodeRef"] = {"value": tax}
    if line.service_date is not None:
        detail["ServiceDate"] = line.service_date.isoformat()
    return {
        "LineNum": number,
        "Description": line.description,
        "Amount": line.line_amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": detail,
    }


def document(
    source: Source, maps: AccountingMaps, number: str
) -> tuple[str, dict[str, Any], list[str]]:
    """(resource, request body, unmapped) for one invoice or credit note."""
    unmapped: list[str] = []
    body: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": source.issue_date.isoformat(),
        "PrivateNote": f"{source.source_id}: {source.reference}",
        "CurrencyRef": {"value": source.currency},
        "CustomerRef": customer_ref(source, maps, unmapped),
    }
    if source.kind == "invoice":
        body["DueDate"] = due_date(source, maps.terms_days(source.customer_id)).isoformat()
    body["Line"] = [line(n, item, maps, unmapped) for n, item in enumerate(source.lines, 1)]
    # one entry per missing map key, in first-seen order
    unmapped = list(dict.fromkeys(unmapped))
    return ("invoice" if source.kind == "invoice" else "creditmemo"), body, unmapped
