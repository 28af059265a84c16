"""Command line: `python -m msp_devstack {kafka-fetch,run}`.

`run` starts Kafka, Postgres and the four services, plays a simulated MSP month
through them (unless `--no-simulate`), prints its summary, and keeps everything up
until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from msp_devstack.paths import local_dir

log = logging.getLogger("msp_devstack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msp_devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser(
        "kafka-fetch", help="download the Kafka broker jars with mvn (once, cached in .local/)"
    )
    fetch.add_argument("--force", action="store_true", help="download again")

    run = commands.add_parser(
        "run", help="start Kafka + Postgres, create topics, migrate, run the services"
    )
    run.add_argument(
        "--kafka-port", type=int, help="broker port (default 19092, or a free one if busy)"
    )
    run.add_argument(
        "--postgres-port", type=int, help="Postgres port (default 15432, or a free one if busy)"
    )
    run.add_argument(
        "--http-base-port",
        type=int,
        help="services listen on this port and the next three (default 8080-8083, or free "
        "ones if busy)",
    )
    run.add_argument(
        "--data-dir", type=Path, help="where Kafka and Postgres keep data (default .local/run)"
    )
    run.add_argument(
        "--no-simulate",
        action="store_true",
        help="only start the stack (default: play a simulated MSP month once it is up, "
        "from a fresh data dir)",
    )
    run.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    run.add_argument("--month", type=_month, help="simulated month YYYY-MM (default 2026-03)")
    run.add_argument(
        "--customers", type=int, default=30, help="simulated customers (default 30, min 5)"
    )
    args = parser.parse_args(argv)

    from msp_devstack.stack import configure_logging

    configure_logging()
    from msp_devstack.kafka import FetchError, PrerequisiteError, fetch_kafka

    if args.command == "kafka-fetch":
        try:
            libs = fetch_kafka(force=args.force)
        except (PrerequisiteError, FetchError) as exc:
            log.error("%s", exc)
            return 1
        print(f"Kafka broker jars: {libs}")
        return 0

    from msp_devstack.stack import Simulation
    from msp_devstack.stack import run as run_stack

    if args.customers < 5:
        parser.error("--customers: at least 5 (one customer per storyline role)")
    return run_stack(
        data_dir=args.data_dir or local_dir() / "run",
        kafka_port=args.kafka_port,
        postgres_port=args.postgres_port,
        http_base_port=args.http_base_port,
        simulation=None
        if args.no_simulate
        else Simulation(seed=args.seed, month=args.month, customers=args.customers),
    )


def _month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not YYYY-MM")
    return value


if __name__ == "__main__":
    sys.exit(main())
