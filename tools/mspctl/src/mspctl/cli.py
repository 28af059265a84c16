"""The `mspctl` command tree: one module per command group."""

from __future__ import annotations

import typer

from mspctl import (
    billing,
    dlq,
    export,
    finance,
    incidents,
    keys,
    login,
    publish,
    rebuild,
    sla,
    tail,
)

app = typer.Typer(
    name="mspctl",
    help="The operators' command line for the MSP operations backbone.\n\n"
    "Configuration comes from the environment (defaults match `make run`): "
    "KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, MSP_TOPIC_NAMESPACE, MSP_API_KEY_PEPPER, "
    "MSPCTL_API_KEY, MSPCTL_INGEST_URL (:8080), MSPCTL_INCIDENTS_URL (:8081), "
    "MSPCTL_SLA_URL (:8082), MSPCTL_BILLING_URL (:8083), MSPCTL_SCHEMA_PREFIX, "
    "MSPCTL_TOKEN, MSPCTL_OIDC_ISSUER + MSPCTL_OIDC_CLIENT_ID (mspctl login).",
    epilog="Examples: mspctl tail msp.tickets.v1 --from-beginning;  "
    "mspctl sla report cust-acme --month 2026-03;  mspctl rebuild sla-clock",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("publish")(publish.publish)
app.command("tail")(tail.tail)
app.add_typer(incidents.app, name="incidents")
app.add_typer(sla.app, name="sla")
app.add_typer(billing.app, name="invoice")
app.command("scope-creep")(billing.scope_creep)
app.add_typer(keys.app, name="keys")
app.add_typer(dlq.app, name="dlq")
app.add_typer(finance.app, name="finance")
app.command("rebuild")(rebuild.rebuild)
app.command("export")(export.export)
