"""`python -m sla_clock`: HTTP API + consumer + scheduler + outbox relay."""

from __future__ import annotations

from msp_plumbing.app import serve
from sla_clock.app import build_app
from sla_clock.settings import SlaSettings


def main() -> None:
    settings = SlaSettings()
    app, runtime = build_app(settings)
    serve(app, runtime)


if __name__ == "__main__":
    main()
