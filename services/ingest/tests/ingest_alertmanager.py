"""A real Alertmanager (Debian's package, unpacked into .tools/ by `make deploy-tools`,
as tests/observability does with Prometheus), configured with receivers that point at
a test's ingest, fed alerts through its own API (`POST /api/v2/alerts`).

Debian's build reads its default templates from /usr/share/prometheus/alertmanager
(not compiled in), which an unpacked package does not provide. When that path is
missing and we may make a private mount namespace (`unshare`, root), Alertmanager
runs with the package's /usr/share laid over the system's (a read-only overlay seen
only by that process); otherwise `available()` says why it cannot run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from msp_devstack.processes import LOOPBACK, log_tail
from msp_devstack.toolserver import ToolServer

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / ".tools" / "alertmanager"
BINARY = PACKAGE / "usr" / "bin" / "prometheus-alertmanager"
TEMPLATES = Path("/usr/share/prometheus/alertmanager/default.tmpl")


def available() -> str | None:
    """None when Alertmanager can run here, else the reason it cannot."""
    if not BINARY.exists():
        return f"no Alertmanager at {BINARY}: run `make deploy-tools`"
    if TEMPLATES.exists():
        return None
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return (
            f"Debian's Alertmanager needs {TEMPLATES}: install prometheus-alertmanager, "
            "or run as root with `unshare` so the unpacked package can be overlaid"
        )
    return None


def _argv(args: list[str]) -> list[str]:
    if TEMPLATES.exists():
        return [str(BINARY), *args]
    share = PACKAGE / "usr" / "share"
    overlay = 'mount -t overlay overlay -o "lowerdir=$0:/usr/share" /usr/share && exec "$@"'
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return [*unshare, "sh", "-c", overlay, str(share), str(BINARY), *args]


class Alertmanager(ToolServer):
    name = "alertmanager"

    def __init__(self, *, config: dict[str, Any], data_dir: Path) -> None:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        super().__init__(config=config, data_dir=data_dir)

    def argv(self, config_file: Path) -> list[str]:
        return _argv(
            [
                f"--config.file={config_file}",
                f"--storage.path={self.data_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--cluster.listen-address=",  # no gossip: one instance
                "--log.level=debug",
            ]
        )

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        r = self.client.post("/api/v2/alerts", json=alerts)
        assert r.status_code == 200, r.text

    def log_text(self) -> str:
        return log_tail(self.log, lines=60)
