"""Time to recover from each fault of the fault suite, under the same steady mixed load
(`msp_devstack.drill.FaultSystem`: a broker and a Postgres of its own, the services of
`Fleet`, retrying clients posting alerts, Alertmanager webhooks, tickets and time
entries for four customers).

For every fault (Postgres fast restart, Postgres frozen, broker restart on the same
data, broker frozen, SIGKILL of each service and its restart), from the fault's end:
- `<fault>_ready_s`: until every service's /readyz answers 200;
- `<fault>_rate_back_s`: until the clients' 202s come at half the pre-fault rate;
- `<fault>_applied_s`: until every event the clients got accepted is applied
  downstream (alert in an incident, ticket on an SLA clock, entry on a line item),
  the load having run on until 40 more 202s and every client having finished its
  retries: it includes the clients' retry tail (after a Postgres freeze, ids whose
  claim committed while ingest had given up on it stay "outcome unknown" until
  ingest's orphan grace, `MSP_DOUBT_ORPHAN_GRACE_S`, 20 s in the drill);
plus `<fault>_fault_s` (how long the fault lasted, restarts included; for the
restarts also `_stop_s`, `_down_s`, `_start_s`) and `<fault>_accepted_events`. A
drill that loses or duplicates anything fails the run.

Writes bench/results/faults.json. The broker and Postgres are always local (the
faults hit them): KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are not used.

    make bench-faults
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import Infra, machine, server_version, write_results
from msp_devstack.drill import FAULTS, DrillOutcome, FaultSystem
from msp_devstack.kafka import KAFKA_VERSION, fetch_kafka


def check(outcome: DrillOutcome) -> None:
    """The same truths the fault suite asserts: a benchmark of a broken run is no
    measurement."""
    problems = {
        "not applied": outcome.not_applied,
        "not on the canonical topic": outcome.not_on_canonical,
        "duplicates (canonical)": outcome.canonical_duplicates,
        "duplicates (outputs)": outcome.output_duplicates,
        "gave up": outcome.gave_up,
        "never ready": outcome.ready_after_s is None,
        "restarted": [n for n in outcome.restarted if outcome.name != f"kill_{n}"],
    }
    found = {k: v for k, v in problems.items() if v}
    if found:
        raise SystemExit(f"{outcome.name}: {found}")


def metrics_of(outcome: DrillOutcome) -> dict[str, float]:
    prefix = outcome.name.replace("-", "_")
    values = {
        "fault_s": outcome.fault_s,
        "ready_s": outcome.ready_after_s,
        "rate_back_s": outcome.rate_back_after_s,
        "applied_s": outcome.applied_after_s,
        "accepted_events": float(outcome.accepted),
    }
    values.update(outcome.phases)  # a restart's stop_s, down_s, start_s
    return {f"{prefix}_{k}": float(v) for k, v in values.items() if v is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-per-s", type=float, default=20.0)
    parser.add_argument("--down-s", type=float, default=15.0)
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS), default=sorted(FAULTS))
    args = parser.parse_args()
    fetch_kafka()
    began = time.monotonic()
    metrics: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="msp-bench-faults-") as scratch:
        work_dir = Path(scratch)
        work_dir.chmod(0o755)  # the non-root postgres user must reach its data dir
        with FaultSystem(
            work_dir, requests_per_s=args.requests_per_s, down_s=args.down_s
        ) as system:
            check(system.drill("baseline", None))
            for name in args.only:
                outcome = system.drill(name, FAULTS[name])
                print(outcome.summary(), flush=True)
                check(outcome)
                metrics.update(metrics_of(outcome))
            infra = Infra(
                system.kafka.bootstrap_servers, system.postgres.database_url, KAFKA_VERSION
            )
            facts = machine(infra, asyncio.run(server_version(infra.database_url)))
    metrics["load_requests_per_s"] = args.requests_per_s
    metrics["fault_down_s"] = args.down_s
    metrics["total_wall_s"] = round(time.monotonic() - began, 1)
    path = write_results("faults", facts, metrics)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
