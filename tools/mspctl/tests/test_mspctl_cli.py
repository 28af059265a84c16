"""mspctl without a broker: file parsing and validation for publish, the help texts,
and bad arguments named clearly."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from mspctl_events import month
from typer.testing import CliRunner

from msp_events.serde import encode_value
from mspctl.cli import app
from mspctl.common import operator_headers
from mspctl.login import write_private
from mspctl.publish import InputError, read_items, validate
from mspctl.settings import CtlSettings

runner = CliRunner()


def _lines() -> list[str]:
    return [encode_value(e).decode() for e in month()]


def test_reads_ndjson_array_and_single_object() -> None:
    lines = _lines()
    assert len(read_items("\n".join(lines) + "\n\n")) == len(lines)
    assert len(read_items("[" + ",".join(lines) + "]")) == len(lines)
    assert [i.where for i in read_items(lines[0])] == ["event"]
    validate(read_items("\n".join(lines)))


def test_bad_file_names_every_line_and_field() -> None:
    lines = _lines()
    bad = json.loads(lines[3])
    bad["data"]["priority"] = "P9"
    lines[3] = json.dumps(bad)
    lines[5] = "{not json"
    with pytest.raises(InputError) as raised:
        validate(read_items("\n".join(lines)))
    problems = raised.value.problems
    assert any(p.startswith("line 6: not valid JSON") for p in problems), problems
    lines[5] = lines[4]  # a repeated id
    with pytest.raises(InputError) as raised:
        validate(read_items("\n".join(lines)))
    problems = raised.value.problems
    assert any(p.startswith("line 4: /data/priority:") for p in problems), problems
    assert any(p.startswith("line 6: /id:") and "repeats line 5" in p for p in problems)


def test_publish_refuses_a_bad_file_before_any_network(tmp_path: object) -> None:
    result = runner.invoke(
        app,
        ["publish", "-", "--api-key", "x"],
        input='{"specversion": "1.0", "type": "msp.ticket.created.v1"}\n',
        env={"MSPCTL_INGEST_URL": "http://127.0.0.1:9"},  # nothing listens: never called
    )
    assert result.exit_code == 1
    assert "nothing published" in result.output
    assert "/id: Field required" in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["publish", "--help"],
        ["tail", "--help"],
        ["incidents", "list", "--help"],
        ["sla", "report", "--help"],
        ["invoice", "run", "--help"],
        ["keys", "rotate", "--help"],
        ["dlq", "replay", "--help"],
        ["rebuild", "--help"],
        ["export", "--help"],
        ["finance", "export", "--help"],
        ["login", "--help"],
        ["logout", "--help"],
    ],
)
def test_every_command_has_help_with_examples(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_unknown_topic_lists_the_registry() -> None:
    result = runner.invoke(app, ["tail", "msp.nope.v1"])
    assert result.exit_code == 2
    assert "unknown topic 'msp.nope.v1'" in result.output
    assert "msp.tickets.v1" in result.output and "msp.deadletter.v1" in result.output


def test_bad_month_and_ingest_rebuild_are_refused() -> None:
    result = runner.invoke(app, ["sla", "report", "cust-a", "--month", "2026-3"])
    assert result.exit_code == 2 and "--month: '2026-3' is not a month" in result.output
    result = runner.invoke(app, ["rebuild", "ingest"])
    assert result.exit_code == 2 and "ingest cannot be rebuilt" in result.output


def test_the_sign_in_file_is_the_users_alone_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "mspctl" / "token.json"
    write_private(path, {"access_token": "a"})
    path.chmod(0o644)  # even a file someone widened is written back user-only
    write_private(path, {"access_token": "b"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"access_token": "b"}
    assert [p.name for p in path.parent.iterdir()] == ["token.json"], "no temporary left"


def test_a_stored_sign_in_is_sent_until_it_expires(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    write_private(
        path,
        {
            "access_token": "tok-1",
            "expires_at": time.time() + 600,
            "token_url": "",
            "client_id": "",
        },
    )
    env = {"MSPCTL_TOKEN": "", "MSPCTL_TOKEN_FILE": str(path)}
    settings = CtlSettings(token=None, token_file=str(path))
    assert operator_headers(settings) == {"authorization": "Bearer tok-1"}
    write_private(path, {"access_token": "tok-1", "expires_at": time.time() - 1})
    result = runner.invoke(app, ["incidents", "list"], env=env)
    assert result.exit_code == 1 and "run `mspctl login` again" in result.output
    result = runner.invoke(app, ["login"], env={**env, "MSPCTL_OIDC_CLIENT_ID": "msp-cli"})
    assert result.exit_code == 2 and "MSPCTL_OIDC_ISSUER" in result.output
