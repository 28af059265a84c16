"""JSON logs, one object per line, with the service name and any `extra` fields
(notably `event_id` and `trace_id`, so a log line can be traced to the event that
caused it; the per-event lines are `msp_plumbing.eventlog`).

uvicorn's access log lines for `/healthz`, `/readyz` and `/metrics` are dropped unless
asked for (`MSP_LOG_PROBE_REQUESTS=true`): probes and scrapes arrive every few seconds
from every kubelet and Prometheus and said nothing an operator looks for, yet were most
of the lines of a quiet service.

Warnings and errors are rate-limited (`ThrottleFilter`): one line per logger and
message template per `THROTTLE_S` seconds, the next line carrying `suppressed` (how
many were held back). A broker outage then costs a few lines, not one per request."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ACCESS_LOGGER = "uvicorn.access"
THROTTLE_S = 10.0
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record. A busy consumer writes a line per event, so the
    encoder is built once (`json.dumps` with options builds one per call)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._encoder = json.JSONEncoder(default=str)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(entry)


class ProbeAccessFilter(logging.Filter):
    """Drops uvicorn access lines of probe and scrape paths. uvicorn logs each request
    as `(client, method, path with query, http version, status)` arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            return args[2].split("?", 1)[0] not in PROBE_PATHS
        return True


class ThrottleFilter(logging.Filter):
    def __init__(self, every_s: float = THROTTLE_S) -> None:
        super().__init__()
        self.every_s = every_s
        self._next: dict[tuple[str, object], float] = {}
        self._held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        if now < self._next.get(key, 0.0):
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._next) > 10_000:  # bounded: templates are few, but be safe
            self._next.clear()
        self._next[key] = now + self.every_s
        held = self._held.pop(key, 0)
        if held:
            record.suppressed = held
        return True


def configure_logging(
    service: str,
    level: str = "INFO",
    *,
    event_level: str = "INFO",
    probe_requests: bool = False,
) -> None:
    """JSON lines on stderr at `level`; the per-event lines (`msp.events`) at
    `event_level`; probe and scrape access lines only with `probe_requests`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(ThrottleFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("msp.events").setLevel(event_level.upper())
    access = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in access.filters if isinstance(f, ProbeAccessFilter)]:
        access.removeFilter(old)
    if not probe_requests:
        access.addFilter(ProbeAccessFilter())
