"""Settings come from the environment at construction time; logs are JSON; a real
uvicorn's access lines of probes and scrapes are dropped unless turned on."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from msp_devstack.testkit import wait_for_async
from msp_plumbing import eventlog
from msp_plumbing.jsonlog import JsonFormatter, configure_logging
from msp_plumbing.settings import ServiceSettings


def test_settings_read_env_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSP_SERVICE_NAME", "sla-clock")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.setenv("MSP_TOPIC_NAMESPACE", "t1-")
    s = ServiceSettings()  # type: ignore[call-arg]
    assert (s.kafka_bootstrap_servers, s.database_url) == ("k:1", "postgresql://u@h/d")
    assert s.schema_name == "sla_clock"
    assert s.group_id("tickets") == "t1-sla-clock.tickets"


def test_bad_setting_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSP_SERVICE_NAME", "x")
    monkeypatch.setenv("MSP_HTTP_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="http_port"):
        ServiceSettings()  # type: ignore[call-arg]


def test_json_log_carries_event_id() -> None:
    record = logging.LogRecord("svc", logging.INFO, "f.py", 1, "applied %s", ("x",), None)
    record.event_id = "evt-1"
    line = json.loads(JsonFormatter("billing").format(record))
    assert line["msg"] == "applied x"
    assert (line["event_id"], line["service"], line["level"]) == ("evt-1", "billing", "INFO")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`configure_logging` is process-wide: put back what pytest had."""
    root, events, access = (logging.getLogger(n) for n in ("", "msp.events", "uvicorn.access"))
    saved = (root.handlers[:], root.level, events.level, access.filters[:])
    yield
    root.handlers[:], _, _, access.filters[:] = saved
    root.setLevel(saved[1])
    events.setLevel(saved[2])


async def serve_and_get(paths: list[str], *, probe_requests: bool) -> list[dict[str, object]]:
    """Run a real uvicorn (as `msp_plumbing.app.serve` configures it) on a free port,
    GET each path, and return the JSON lines it logged."""
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"path": path}

    stream = io.StringIO()
    configure_logging("svc", "INFO", probe_requests=probe_requests)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        await wait_for_async(lambda: server.started, timeout=20, message="uvicorn up")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for path in paths:
                assert (await client.get(path)).status_code == 200
    finally:
        server.should_exit = True
        await task
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_probe_and_scrape_access_lines_are_off_by_default() -> None:
    lines = await serve_and_get(
        ["/healthz", "/readyz", "/metrics", "/metrics?x=1", "/v1/things"], probe_requests=False
    )
    access = [str(line["msg"]) for line in lines if line["logger"] == "uvicorn.access"]
    assert len(access) == 1 and '"GET /v1/things HTTP/1.1" 200' in access[0], access


async def test_probe_access_lines_can_be_turned_on() -> None:
    lines = await serve_and_get(["/healthz", "/metrics"], probe_requests=True)
    access = [str(line["msg"]) for line in lines if line["logger"] == "uvicorn.access"]
    assert [a.split('"')[1] for a in access] == ["GET /healthz HTTP/1.1", "GET /metrics HTTP/1.1"]


def test_settings_name_the_log_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSP_SERVICE_NAME", "billing")
    monkeypatch.setenv("MSP_LOG_PROBE_REQUESTS", "true")
    monkeypatch.setenv("MSP_EVENT_LOG_LEVEL", "WARNING")
    s = ServiceSettings()  # type: ignore[call-arg]
    assert (s.log_probe_requests, s.event_log_level) == (True, "WARNING")
    configure_logging(s.service_name, s.log_level, event_level=s.event_log_level)
    assert not eventlog.enabled()
    configure_logging(s.service_name, s.log_level)
    assert eventlog.enabled()


def test_warnings_are_rate_limited_with_a_count_of_what_was_held_back() -> None:
    from msp_plumbing.jsonlog import ThrottleFilter

    throttle = ThrottleFilter(every_s=0.2)

    def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("ingest.claims", level, __file__, 1, msg, ("x",), None)

    outage = [record("produce failed: %r") for _ in range(1000)]
    passed = [r for r in outage if throttle.filter(r)]
    assert len(passed) == 1  # one line for a thousand identical failures
    assert throttle.filter(record("claiming ids failed: %r"))  # another kind: its own line
    assert all(throttle.filter(record("applied %r", logging.INFO)) for _ in range(5))
    import time

    time.sleep(0.25)  # the throttle window itself is what is tested
    later = record("produce failed: %r")
    assert throttle.filter(later) and later.suppressed == 999
