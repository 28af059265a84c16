"""Command line: `python -m msp_simulator {play,summary,show}`.

    python -m msp_simulator play --ingest-url http://127.0.0.1:8080 \\
        --incidents-url ... --sla-url ... --billing-url ... --seed 7 --month 2026-03
    python -m msp_simulator summary --incidents-url ... --sla-url ... --billing-url ...
    python -m msp_simulator show --seed 7          # the generated month, no services

API keys: `--events-key`, `--alertmanager-key` and `--operator-key` (for the reads, the
invoice run and /metrics: admin, dispatcher and billing roles), or (without them)
created with `python -m msp_access.keys create`, which needs DATABASE_URL (and
MSP_TOPIC_NAMESPACE / MSP_API_KEY_PEPPER if the services run with non-default ones) in
the environment. `summary` needs `--operator-key`.
"""

from __future__ import annotations

import argparse
import os
import sys

import httpx

from msp_simulator.keys import Keys
from msp_simulator.player import Services
from msp_simulator.scenario import DEFAULT_MONTH, Month, generate
from msp_simulator.settings import SimulatorSettings
from msp_simulator.world import parse_month


def _month_arg(value: str) -> str:
    try:
        parse_month(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msp_simulator", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("play", "post the simulated month through ingest, then print the summary"),
        ("summary", "print the summary of a month already played"),
        ("show", "print the generated month (storylines, counts); needs no services"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("--seed", type=int, help="default 1 (MSP_SIM_SEED)")
        cmd.add_argument("--month", type=_month_arg, help="YYYY-MM (default 2026-03)")
        cmd.add_argument("--customers", type=int, help="how many customers (default 30)")
        if name == "show":
            continue
        if name == "play":
            cmd.add_argument("--ingest-url", help="MSP_SIM_INGEST_URL")
            cmd.add_argument("--events-key", help="ingest API key for /v1/events")
            cmd.add_argument("--alertmanager-key", help="ingest API key for Alertmanager")
        cmd.add_argument("--operator-key", help="credential for reads, invoice run, /metrics")
        cmd.add_argument("--incidents-url", help="MSP_SIM_INCIDENTS_URL")
        cmd.add_argument("--sla-url", help="MSP_SIM_SLA_URL")
        cmd.add_argument("--billing-url", help="MSP_SIM_BILLING_URL")
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k != "command"}
    try:
        settings = SimulatorSettings(**given)
        month = generate(
            seed=settings.seed,
            month=parse_month(settings.month) if settings.month else DEFAULT_MONTH,
            customers=settings.customers,
        )
    except ValueError as exc:  # pydantic's ValidationError is one: it names the field
        parser.error(str(exc))
    if args.command == "show":
        print(f"{len(month.posts)} posts, {month.event_count} events")
        for story, facts in month.cast.items():
            print(f"  {story:<21} " + " ".join(f"{k}={v}" for k, v in facts.items()))
        return 0
    if args.command == "summary":
        return _summary(settings, month)
    return _play(settings, month)


def _play(settings: SimulatorSettings, month: Month) -> int:
    from msp_simulator.session import simulate

    if not settings.ingest_url:
        print("--ingest-url (or MSP_SIM_INGEST_URL) is required", file=sys.stderr)
        return 2
    keys = None
    if settings.events_key and settings.alertmanager_key:
        keys = Keys(
            events=settings.events_key,
            alertmanager=settings.alertmanager_key,
            operator=settings.operator_key,
        )
    services = Services(
        settings.ingest_url, settings.incidents_url, settings.sla_url, settings.billing_url
    )
    try:
        outcome = simulate(
            month,
            services=services,
            keys=keys,
            key_env=dict(os.environ),
            progress=lambda line: print(line, flush=True),
        )
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"simulation failed: {exc}", file=sys.stderr)
        return 1
    print(outcome.text, flush=True)
    return 0


def _summary(settings: SimulatorSettings, month: Month) -> int:
    from msp_simulator import summary

    if not (settings.incidents_url and settings.sla_url and settings.billing_url):
        print("--incidents-url, --sla-url and --billing-url are required", file=sys.stderr)
        return 2
    period = month.world.month.strftime("%Y-%m")
    customers = [c.customer_id for c in month.world.customers]
    headers = {"Authorization": f"Bearer {settings.operator_key}"} if settings.operator_key else {}
    with httpx.Client(timeout=60, headers=headers) as http:
        invoice_ids = summary.issued_invoices(
            http, settings.billing_url, period=period, customers=customers
        )
        found = summary.collect(
            http,
            month=period,
            customers=customers,
            incidents=settings.incidents_url,
            sla=settings.sla_url,
            billing=settings.billing_url,
            invoice_ids=invoice_ids,
        )
    print(summary.render(found, cast=month.cast))
    return 0


if __name__ == "__main__":
    sys.exit(main())
