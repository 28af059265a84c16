"""`python -m ingest`: the HTTP API, the raw-topic consumer and the outbox relay.
Migrations are a separate step: `python -m msp_plumbing.migrations --schema ingest
--package ingest`."""

from __future__ import annotations

from ingest.runtime import IngestRuntime, create_ingest_app
from ingest.settings import IngestSettings
from msp_plumbing.app import serve


def main() -> None:
    settings = IngestSettings()
    runtime = IngestRuntime(settings)
    serve(create_ingest_app(runtime), runtime)


if __name__ == "__main__":
    main()
