"""The maps every accounting system needs and billing does not own: which accounting
contact a customer is, which item / account / tax code a kind of line books to, and
the payment terms that give an invoice its due date. Configured as JSON in
`MSP_ACCOUNTING_MAPS` (`BillingSettings.accounting_maps`); a missing entry falls back
to the invoice line's own codes and is named in the document's `unmapped`."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from msp_events.types.billing import InvoiceLineKind


class _Map(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactMap(_Map):
    """One customer in the accounting systems."""

    xero_contact_id: uuid.UUID | None = Field(default=None, description="Xero ContactID")
    qbo_customer_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="QuickBooks Customer Id"
    )
    name: str | None = Field(default=None, min_length=1, max_length=255)
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)


class ItemMap(_Map):
    """Where one kind of invoice line (a classification, or `flat_fee`) books."""

    xero_item_code: str | None = Field(default=None, min_length=1, max_length=30)
    xero_account_code: str | None = Field(default=None, min_length=1, max_length=10)
    xero_tax_type: str | None = Field(default=None, min_length=1, max_length=50)
    qbo_item_id: str | None = Field(default=None, min_length=1, max_length=64)
    qbo_tax_code: str | None = Field(default=None, min_length=1, max_length=64)


class AccountingMaps(_Map):
    contacts: dict[str, ContactMap] = Field(default_factory=dict, description="by customer_id")
    items: dict[InvoiceLineKind, ItemMap] = Field(default_factory=dict)
    payment_terms_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Due date = issue date + this, unless the contact says",
    )
    xero_status: Literal["DRAFT", "SUBMITTED", "AUTHORISED"] = "DRAFT"

    def contact(self, customer_id: str) -> ContactMap | None:
        return self.contacts.get(customer_id)

    def item(self, kind: str) -> ItemMap:
        for key, item in self.items.items():
            if key == kind:
                return item
        return ItemMap()

    def terms_days(self, customer_id: str) -> int:
        contact = self.contacts.get(customer_id)
        if contact is not None and contact.payment_terms_days is not None:
            return contact.payment_terms_days
        return self.payment_terms_days
