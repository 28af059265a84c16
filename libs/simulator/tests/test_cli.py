"""`python -m msp_simulator`: bad input is refused naming the field; `show` needs no
services."""

from __future__ import annotations

import pytest

from msp_simulator.__main__ import main


def test_show_prints_every_storyline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--seed", "2", "--customers", "8"]) == 0
    out = capsys.readouterr().out
    assert "alert_storm" in out and "scope_creep" in out and "customers=8" in out


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["show", "--customers", "3"], "customers"),
        (["show", "--month", "2026-13"], "month"),
        (["play", "--seed", "x"], "--seed"),
    ],
)
def test_bad_input_names_the_field(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert field in capsys.readouterr().err


def test_play_without_ingest_url_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSP_SIM_INGEST_URL", raising=False)
    assert main(["play", "--customers", "5"]) == 2
    assert "--ingest-url" in capsys.readouterr().err
