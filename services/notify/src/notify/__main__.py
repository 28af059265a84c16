"""`python -m notify`: HTTP API + consumer + delivery worker. Migrations are a separate
step: `python -m msp_plumbing.migrations --schema notify --package notify`."""

from __future__ import annotations

from msp_plumbing.app import serve
from notify.app import build_app
from notify.settings import NotifySettings


def main() -> None:
    settings = NotifySettings()
    app, runtime = build_app(settings)
    serve(app, runtime)


if __name__ == "__main__":
    main()
