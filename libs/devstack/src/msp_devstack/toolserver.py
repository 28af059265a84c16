"""`ToolServer`: a third-party server the tests run beside the services (Prometheus,
Alertmanager, from Debian packages unpacked into .tools/ by `make deploy-tools`): its
config written as JSON (JSON is YAML) into its data folder, started in a process group
of its own with its log there, ready once `/-/ready` answers 200, stopped with its
group. A subclass names the tool and gives its command line."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx

from msp_devstack.processes import (
    LOOPBACK,
    StartupError,
    free_port,
    log_tail,
    spawn,
    stop_process_group,
)
from msp_devstack.testkit import wait_for


class ToolServer:
    name: ClassVar[str]
    """The tool's name: its log (`<name>.log`), config (`<name>.yml`) and messages."""

    def __init__(self, *, config: dict[str, Any], data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = data_dir / f"{self.name}.log"
        self.proc: Any = None
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def argv(self, config_file: Path) -> list[str]:
        """The command line that serves on `self.port` with `config_file`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.data_dir / f"{self.name}.yml"
        config_file.write_text(json.dumps(self.config, indent=2))
        self.proc = spawn(self.argv(config_file), self.log)
        wait_for(self._ready, timeout=60, interval=0.2, message=self._not_ready)
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise StartupError(f"{self.name} exited:\n{log_tail(self.log)}")
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def _not_ready(self) -> str:
        return f"{self.name} ready on {self.url}; log:\n{log_tail(self.log)}"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.close()
        if self.proc is not None:
            stop_process_group(self.proc, self.name, timeout=20)
            self.proc = None
