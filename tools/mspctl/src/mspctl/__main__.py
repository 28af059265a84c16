"""`mspctl` / `python -m mspctl`: the operators' command line."""

from __future__ import annotations

import sys


def main() -> int:
    from mspctl.cli import app

    app()
    return 0


if __name__ == "__main__":
    sys.exit(main())
