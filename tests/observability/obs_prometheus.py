"""A real Prometheus (Debian's package, unpacked into .tools/ by `make deploy-tools`)
scraping the fleet's /metrics every second, for the dashboard test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from obs_dashboards import ROOT

from msp_access.settings import DEV_METRICS_TOKEN
from msp_devstack.processes import StartupError, free_port, log_tail, spawn, stop_process_group
from msp_devstack.testkit import wait_for

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


class Prometheus:
    def __init__(self, *, targets: Mapping[str, str], data_dir: Path) -> None:
        if not BINARY.exists():
            raise RuntimeError(
                f"no Prometheus at {BINARY}: run `make deploy-tools` (it unpacks Debian's "
                "prometheus package into .tools/; `make test` does it for you)"
            )
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = dict(targets)
        self.proc: Any = None
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def __enter__(self) -> Prometheus:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no YAML writer needed
        cfg = self.data_dir / "prometheus.yml"
        cfg.write_text(json.dumps(config(self.targets), indent=2))
        self.log = self.data_dir / "prometheus.log"
        self.proc = spawn(
            [
                str(BINARY),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            self.log,
        )
        wait_for(self._ready, timeout=60, interval=0.2, message=self._not_ready)
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise StartupError(f"prometheus exited:\n{log_tail(self.log)}")
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def _not_ready(self) -> str:
        return f"prometheus ready on {self.url}; log:\n{log_tail(self.log)}"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.close()
        if self.proc is not None:
            stop_process_group(self.proc, "prometheus", timeout=20)
            self.proc = None

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
