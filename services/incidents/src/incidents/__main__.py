"""`python -m incidents`: the whole service (triage and projection consumers,
wall-clock scheduler, outbox relay, HTTP API) in one process. Run the migrations first:
`python -m msp_plumbing.migrations --schema incidents --package incidents`."""

from __future__ import annotations

from incidents.app import build


def main() -> None:
    from msp_plumbing.app import serve

    app, runtime = build()
    serve(app, runtime)


if __name__ == "__main__":
    main()
