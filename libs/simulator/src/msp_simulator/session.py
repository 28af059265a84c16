"""One whole simulation against running services: keys, the month, catch-up, the
invoice run, the summary. What `python -m msp_devstack run` and
`python -m msp_simulator play` both call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from msp_simulator import catchup, summary
from msp_simulator.keys import Keys, create_keys
from msp_simulator.player import PlayStats, Services, month_end, play
from msp_simulator.scenario import DEFAULT_MONTH, Month, generate
from msp_simulator.world import parse_month

FINAL_CATCHUP_S = 180.0


@dataclass(frozen=True)
class Outcome:
    stats: PlayStats
    invoice_outcomes: list[dict[str, object]]
    text: str
    summary: summary.Summary | None


def simulate(
    month: Month,
    *,
    services: Services,
    keys: Keys | None = None,
    key_env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = print,
) -> Outcome:
    customers = [c.customer_id for c in month.world.customers]
    if keys is None:
        if key_env is None:
            raise ValueError("keys: give API keys or the environment to create them with")
        keys = create_keys(customers=customers, env=key_env)
    period = month.world.month.strftime("%Y-%m")
    progress(
        f"Simulating {period} (seed {month.world.seed}): {len(customers)} customers, "
        f"{sum(len(c.devices) for c in month.world.customers)} devices, "
        f"{month.event_count} events in {len(month.posts)} posts"
    )
    with httpx.Client(timeout=60, headers=keys.operator_headers()) as http:
        stats = play(month, services=services, keys=keys, progress=progress, client=http)
        progress(
            f"Played {stats.posted} events in {stats.requests} requests in "
            f"{stats.seconds:.0f} s ({stats.published} published, {stats.duplicates} "
            "duplicates); waiting for the services to finish"
        )
        watched = [u for u in (services.incidents, services.sla, services.billing) if u]
        if watched and not catchup.wait_settled(
            http, dict.fromkeys(watched, 0.0), quiet_s=2.0, timeout_s=FINAL_CATCHUP_S
        ):
            progress("  warning: the services did not settle; the summary may be partial")
        if not (services.incidents and services.sla and services.billing):
            return Outcome(stats, [], "(no summary: give all four service URLs)", None)
        outcomes = summary.invoice_run(
            http, services.billing, period=period, as_of=month_end(month)
        )
        issued = [str(o["invoice_id"]) for o in outcomes if o.get("invoice_id")]
        progress(f"Invoice run {period}: {len(issued)} invoices")
        found = summary.collect(
            http,
            month=period,
            customers=customers,
            incidents=services.incidents,
            sla=services.sla,
            billing=services.billing,
            invoice_ids=issued,
        )
        found.alert_notifications = stats.by_channel["alertmanager"]
        found.repeats_dropped = stats.duplicates
    return Outcome(stats, list(outcomes), summary.render(found, cast=month.cast), found)


def play_and_report(
    *,
    seed: int,
    month: str | None,
    customers: int,
    services: Services,
    key_env: Mapping[str, str],
) -> Outcome:
    """Generate the month, play it with fresh keys, print progress and the summary on
    stdout (flushed line by line: `make run` shows it as it goes)."""

    def say(line: str) -> None:
        print(line, flush=True)

    generated = generate(
        seed=seed,
        month=parse_month(month) if month else DEFAULT_MONTH,
        customers=customers,
    )
    outcome = simulate(generated, services=services, key_env=key_env, progress=say)
    say(outcome.text)
    return outcome
