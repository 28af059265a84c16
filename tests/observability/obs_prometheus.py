"""A real Prometheus (Debian's package, unpacked into .tools/ by `make deploy-tools`)
scraping the fleet's /metrics every second, for the dashboard test."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obs_dashboards import ROOT

from msp_access.settings import DEV_METRICS_TOKEN
from msp_devstack.processes import LOOPBACK
from msp_devstack.toolserver import ToolServer

BINARY = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "prometheus"


def config(targets: Mapping[str, str]) -> dict[str, Any]:
    """One job per service (the job label is the service name), scraped every second."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": "/metrics",
                # the dedicated scrape credential (MSP_METRICS_TOKEN; the dev default here)
                "authorization": {"type": "Bearer", "credentials": DEV_METRICS_TOKEN},
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [host_port]}],
            }
            for name, host_port in targets.items()
        ],
    }


class Prometheus(ToolServer):
    name = "prometheus"

    def __init__(self, *, targets: Mapping[str, str], data_dir: Path) -> None:
        if not BINARY.exists():
            raise RuntimeError(
                f"no Prometheus at {BINARY}: run `make deploy-tools` (it unpacks Debian's "
                "prometheus package into .tools/; `make test` does it for you)"
            )
        self.targets = dict(targets)
        super().__init__(config=config(self.targets), data_dir=data_dir)

    def argv(self, config_file: Path) -> list[str]:
        return [
            str(BINARY),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--log.level=warn",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series of an instant query now; raises on a PromQL error."""
        r = self.client.get("/api/v1/query", params={"query": expr})
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"prometheus rejected {expr!r}: {body.get('error', r.text)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets_up(self) -> dict[str, bool]:
        """Scrape health per job."""
        active = self.client.get("/api/v1/targets").json()["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] == "up" for t in active}
