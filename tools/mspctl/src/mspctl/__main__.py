"""`mspctl`: the operators' command line (placeholder until the CLI lands)."""

import sys


def main() -> int:
    print("mspctl: not built yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
