"""`python -m billing`: the HTTP API, the consumer and the outbox relay in one process.
Migrations are a separate step: `python -m msp_plumbing.migrations --schema billing
--package billing`."""

from __future__ import annotations

from fastapi import FastAPI

from billing.accounting.consumers import make_handler as accounting_handler
from billing.consumers import make_batch_handler
from billing.margin_views import build_margin_router
from billing.settings import BillingSettings
from billing.views import build_router
from msp_events.topics import BILLING_INVOICES, CHANGE_ORDERS, CONTRACTS, MONITORING, TICKETS
from msp_plumbing.app import create_app, serve
from msp_plumbing.runtime import ServiceRuntime


def build(settings: BillingSettings) -> tuple[FastAPI, ServiceRuntime]:
    runtime = ServiceRuntime(settings)
    runtime.add_consumer(
        "main",
        [CONTRACTS, CHANGE_ORDERS, TICKETS, MONITORING],
        batch_handler=make_batch_handler(settings.out_namespace),
    )
    if settings.accounting_targets:
        add_accounting(runtime, settings, invoices_namespace=settings.out_namespace)
    app = create_app(
        runtime=runtime,
        title="billing",
        routers=[build_router(settings), build_margin_router(settings)],
    )
    return app, runtime


def add_accounting(
    runtime: ServiceRuntime, settings: BillingSettings, *, invoices_namespace: str
) -> None:
    """The accounting hand-off: its own group (`<service>.accounting`) over billing's
    invoices topic, read where billing writes it, so it can be reset or replayed
    without touching billing's state."""
    runtime.add_consumer(
        "accounting",
        [BILLING_INVOICES],
        accounting_handler(
            maps=settings.accounting_maps,
            targets=settings.accounting_targets,
            out_namespace=settings.out_namespace,
        ),
        namespace=invoices_namespace,
    )


def main() -> None:
    app, runtime = build(BillingSettings())
    serve(app, runtime)


if __name__ == "__main__":
    main()
