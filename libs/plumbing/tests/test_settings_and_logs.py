"""Settings come from the environment at construction time; logs are JSON."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from msp_plumbing.jsonlog import JsonFormatter
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
