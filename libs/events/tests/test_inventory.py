"""The inventory snapshot: what billing counts per-device and per-user fees from."""

from __future__ import annotations

import json

import pytest

from msp_events import EventValidationError, decode
from msp_events.samples import sample_events
from msp_events.serde import to_json_obj


def _snapshot() -> dict[str, object]:
    [event] = [e for e in sample_events() if e.type == "msp.inventory.snapshot.v1"]
    parsed: dict[str, object] = to_json_obj(event)
    return parsed


def test_the_sample_round_trips() -> None:
    raw = _snapshot()
    assert decode(json.dumps(raw).encode()).data.assets[2].kind == "user"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d["assets"].append(dict(d["assets"][0])), "/data/assets"),
        (lambda d: d["assets"][0].update(kind="printer"), "/data/assets/0/kind"),
        (lambda d: d["assets"][1].update(asset_id=""), "/data/assets/1/asset_id"),
        (lambda d: d.pop("observed_at"), "/data/observed_at"),
    ],
)
def test_bad_snapshots_name_the_field(change: object, pointer: str) -> None:
    raw = _snapshot()
    change(raw["data"])  # type: ignore[operator]
    with pytest.raises(EventValidationError) as failed:
        decode(json.dumps(raw).encode())
    assert pointer in str(failed.value)
