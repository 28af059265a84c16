"""BillingSettings: the one settings class of the service (env `MSP_*`), built at
start-up in `__main__`, never at import."""

from __future__ import annotations

from pydantic import Field

from billing.accounting.maps import AccountingMaps
from billing.invoice import AccountingCodes
from msp_events.base import Currency, NonNegativeMoney
from msp_events.types.finance import AccountingTarget
from msp_plumbing.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = Field(default=8004, ge=1, le=65535)
    output_namespace: str | None = Field(
        default=None,
        description="Prefix of the billing output topics; defaults to topic_namespace "
        "(a replay into separate topics sets it)",
    )
    item_code_flat_fee: str = "MSP-MANAGED"
    item_code_project: str = "MSP-PROJECT-HOUR"
    item_code_on_demand: str = "MSP-ONDEMAND-HOUR"
    item_code_warranty: str = "MSP-WARRANTY"
    item_code_overage: str = "MSP-OVERAGE-HOUR"
    account_code: str | None = "200"
    tax_code: str | None = Field(
        default=None, description="Tax code on every invoice line (tax is computed by finance)"
    )

    accounting_targets: list[AccountingTarget] = Field(
        default=["xero", "qbo"],
        description="Accounting systems the hand-off prepares documents for (JSON list; "
        "empty: no hand-off consumer)",
    )
    accounting_maps: AccountingMaps = Field(
        default_factory=AccountingMaps,
        description="customer -> contact, line kind -> item/account/tax codes, payment "
        "terms (JSON, see billing/accounting/maps.py)",
    )

    technician_cost_rates: dict[str, dict[Currency, NonNegativeMoney]] = Field(
        default_factory=dict,
        description="Hourly cost per technician id (`*`: everyone else) and currency, for "
        'the margin report (JSON, e.g. {"*": {"USD": "45.00"}, "tech-ana": {"USD": "52.00"}})',
    )

    @property
    def out_namespace(self) -> str:
        return self.topic_namespace if self.output_namespace is None else self.output_namespace

    def accounting_codes(self) -> AccountingCodes:
        return AccountingCodes(
            flat_fee_item=self.item_code_flat_fee,
            project_item=self.item_code_project,
            on_demand_item=self.item_code_on_demand,
            warranty_item=self.item_code_warranty,
            overage_item=self.item_code_overage,
            account_code=self.account_code,
            tax_code=self.tax_code,
        )
