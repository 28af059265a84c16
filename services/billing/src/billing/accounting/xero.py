"""Xero Accounting API request bodies: `Invoices` (Type ACCREC) and `CreditNotes`
(Type ACCRECCREDIT), from the published OpenAPI document (vendored in
vendor/xero-openapi/). Lines are tax-exclusive (`LineAmountTypes: Exclusive`): Xero
computes tax from each line's TaxType. Unit amounts carry up to 4 places: post with
`?unitdp=4`. SubTotal / Total are read-only in Xero and are not sent."""

from __future__ import annotations

from typing import Any

from billing.accounting.documents import Source, due_date
from billing.accounting.maps import AccountingMaps
from msp_events.types.billing import InvoiceLine


def contact(source: Source, maps: AccountingMaps, unmapped: list[str]) -> dict[str, Any]:
    mapped = maps.contact(source.customer_id)
    if mapped is not None and mapped.xero_contact_id is not None:
        return {"ContactID": str(mapped.xero_contact_id)}
    unmapped.append(f"contacts/{source.customer_id}/xero_contact_id")
    name = mapped.name if mapped is not None and mapped.name else source.customer_id
    # Xero finds (or creates) the contact by name; ContactNumber keeps our id on it.
    return {"ContactNumber": source.customer_id, "Name": name}


def line_item(line: InvoiceLine, maps: AccountingMaps) -> dict[str, Any]:
    item = maps.item(line.classification)
    body: dict[str, Any] = {
        "Description": line.description,
        "Quantity": line.quantity,
        "UnitAmount": line.unit_amount,
        "LineAmount": line.line_amount,
    }
    codes = {
        "ItemCode": item.xero_item_code or line.item_code,
        "AccountCode": item.xero_account_code or line.account_code,
        "TaxType": item.xero_tax_type or line.tax_code,
    }
    body.update({k: v for k, v in codes.items() if v is not None})
    return body


def document(
    source: Source, maps: AccountingMaps, number: str
) -> tuple[str, dict[str, Any], list[str]]:
    """(resource, request body, unmapped) for one invoice or credit note."""
    unmapped: list[str] = []
    body: dict[str, Any] = {
        "Type": "ACCREC" if source.kind == "invoice" else "ACCRECCREDIT",
        "Contact": contact(source, maps, unmapped),
        "Date": source.issue_date.isoformat(),
    }
    if source.kind == "invoice":
        body["DueDate"] = due_date(source, maps.terms_days(source.customer_id)).isoformat()
        body["InvoiceNumber"] = number
    else:
        body["CreditNoteNumber"] = number
    body.update(
        {
            "Reference": source.reference,
            "CurrencyCode": source.currency,
            "Status": maps.xero_status,
            "LineAmountTypes": "Exclusive",
            "LineItems": [line_item(line, maps) for line in source.lines],
        }
    )
    if source.kind == "invoice":
        return "Invoices", {"Invoices": [body]}, unmapped
    return "CreditNotes", {"CreditNotes": [body]}, unmapped
