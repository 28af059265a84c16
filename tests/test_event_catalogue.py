"""docs/events is generated from msp_events (`make docs`) and must match the code; its
JSON Schemas and AsyncAPI document must be consistent and accept the sample events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from msp_events import catalogue
from msp_events.base import EventData, Money, NonNegativeMoney
from msp_events.envelope import Envelope
from msp_events.registry import ENVELOPES
from msp_events.serde import EventValidationError, parse_event, to_json_obj
from msp_events.topics import TOPICS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "events"
FORMATS = Draft202012Validator.FORMAT_CHECKER


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return catalogue.render()


@pytest.fixture(scope="module")
def asyncapi(files: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(files["asyncapi.json"])
    return doc


@pytest.fixture(scope="module")
def samples() -> dict[str, Envelope]:
    module = pytest.importorskip("msp_events.samples", reason="msp_events.samples not written yet")
    return {event.type: event for event in module.sample_events()}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_checked_in_docs_match_the_code(tmp_path: Path) -> None:
    assert catalogue.main([str(tmp_path / "events")]) == 0
    generated, checked_in = _tree(tmp_path / "events"), _tree(DOCS)
    differing = sorted(
        path
        for path in set(generated) | set(checked_in)
        if generated.get(path) != checked_in.get(path)
    )
    assert not differing, (
        f"docs/events is out of date with msp_events ({', '.join(differing)}): run `make docs`"
    )


def test_check_mode_reports_stale_missing_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events"
    assert catalogue.main([str(out)]) == 0
    assert catalogue.main([str(out), "--check"]) == 0
    (out / "catalogue.md").write_text("edited by hand\n")
    (out / "asyncapi.json").unlink()
    (out / "schemas" / "msp.gone.v1.json").write_text("{}\n")
    capsys.readouterr()

    assert catalogue.main([str(out), "--check"]) == 1
    report = capsys.readouterr().out
    assert "make docs" in report
    assert f"stale:   {out / 'catalogue.md'}" in report
    assert f"missing: {out / 'asyncapi.json'}" in report
    assert f"extra:   {out / 'schemas' / 'msp.gone.v1.json'}" in report
    assert "schemas/msp.ticket.created.v1.json" not in report
    # --check wrote nothing
    assert (out / "catalogue.md").read_text() == "edited by hand\n"
    assert not (out / "asyncapi.json").exists()

    assert catalogue.main([str(out)]) == 0  # regenerating fixes all three
    assert not (out / "schemas" / "msp.gone.v1.json").exists()
    assert catalogue.main([str(out), "--check"]) == 0


def test_check_mode_on_a_missing_directory_fails(tmp_path: Path) -> None:
    assert catalogue.main([str(tmp_path / "nowhere"), "--check"]) == 1
    assert not (tmp_path / "nowhere").exists()


def test_every_event_type_has_a_sample(samples: dict[str, Envelope]) -> None:
    assert sorted(set(ENVELOPES) - set(samples)) == []


@pytest.mark.parametrize("event_type", sorted(ENVELOPES))
def test_schema_accepts_the_sample_and_rejects_it_without_a_required_field(
    event_type: str, files: dict[str, str], samples: dict[str, Envelope]
) -> None:
    schema = json.loads(files[f"schemas/{event_type}.json"])
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    if event_type not in samples:
        pytest.fail(f"msp_events.samples has no {event_type} event")
    sample = to_json_obj(samples[event_type])
    assert sample["dataschema"] == schema["$id"]
    assert [e.message for e in validator.iter_errors(sample)] == []

    payload = schema["$defs"][schema["properties"]["data"]["$ref"].removeprefix("#/$defs/")]
    for field in payload.get("required", []):
        broken = copy.deepcopy(sample)
        del broken["data"][field]
        assert not validator.is_valid(broken), f"schema accepts {event_type} without {field}"
        with pytest.raises(EventValidationError):  # and the model agrees
            parse_event(broken)


def test_money_is_a_decimal_string_in_the_schemas() -> None:
    class Priced(EventData):
        event_type: ClassVar[str] = "test.priced.v1"
        amount: Money
        fee: NonNegativeMoney

    validator = Draft202012Validator(catalogue.model_schema(Priced))
    wire = Priced(amount=Decimal("-12.5"), fee=Decimal("0.0001")).model_dump(mode="json")
    assert wire == {"amount": "-12.5", "fee": "0.0001"}
    assert validator.is_valid(wire)
    assert not validator.is_valid({"amount": 12.5, "fee": "1"}), "a JSON number is not money"
    assert not validator.is_valid({"amount": "1.23456", "fee": "1"}), "more than 4 places"
    assert not validator.is_valid({"amount": "1", "fee": "-1"}), "fee is non-negative"
    assert not validator.is_valid({"amount": "twelve", "fee": "1"})


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolves(doc: Any, ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def test_asyncapi_has_no_dangling_refs(asyncapi: dict[str, Any]) -> None:
    refs = set(_refs(asyncapi))
    assert any(ref.startswith("#/components/schemas/") for ref in refs)
    assert sorted(ref for ref in refs if not _resolves(asyncapi, ref)) == []


def test_asyncapi_lists_every_topic_and_event_type(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    channels = {channel["address"]: channel for channel in asyncapi["channels"].values()}
    assert sorted(channels) == sorted(topic.name for topic in TOPICS)
    for topic in TOPICS:
        carried = {cls.event_type for cls in topic.event_types}
        assert set(channels[topic.name]["messages"]) == carried, topic.name
    assert set(asyncapi["components"]["messages"]) == set(ENVELOPES)
    dead_letter = [t for t in TOPICS if t.key == "original_key"]
    for topic in TOPICS:
        for event_type in channels[topic.name]["messages"]:
            key = asyncapi["components"]["messages"][event_type]["bindings"]["kafka"]["key"]
            expected = "original record" if topic in dead_letter else "customer id"
            assert expected in key["description"], event_type


def test_every_producer_and_consumer_is_an_operation(asyncapi: dict[str, Any]) -> None:
    channel_ids = {channel["address"]: cid for cid, channel in asyncapi["channels"].items()}
    expected = {}
    for topic in TOPICS:
        cid = channel_ids[topic.name]
        for action, roles in (("send", topic.producers), ("receive", topic.consumers)):
            for role in roles:
                expected[f"{role.replace('-', '_')}_{action}s_{cid}"] = (action, cid)
    actual = {
        name: (op["action"], op["channel"]["$ref"].removeprefix("#/channels/"))
        for name, op in asyncapi["operations"].items()
    }
    assert actual == expected
    assert "ingest_sends_msp_monitoring_v1" in actual


def test_asyncapi_schemas_accept_their_examples(
    asyncapi: dict[str, Any], samples: dict[str, Envelope]
) -> None:
    """The hoisted component schemas still describe the events (refs rewritten right)."""
    for event_type, message in asyncapi["components"]["messages"].items():
        root = {"$ref": message["payload"]["$ref"], "components": asyncapi["components"]}
        validator = Draft202012Validator(root, format_checker=FORMATS)
        assert [e["payload"] for e in message.get("examples", [])] == (
            [to_json_obj(samples[event_type])] if event_type in samples else []
        )
        for example in message.get("examples", []):
            assert [e.message for e in validator.iter_errors(example["payload"])] == []
            broken = copy.deepcopy(example["payload"])
            del broken["customerid"]
            assert not validator.is_valid(broken)


def test_hoisting_shares_identical_definitions_and_renames_clashing_ones() -> None:
    def envelope_schema(line: dict[str, Any]) -> dict[str, Any]:
        return {
            "$id": "urn:x",
            "properties": {"data": {"$ref": "#/$defs/Data"}},
            "$defs": {
                "Data": {"properties": {"lines": {"items": {"$ref": "#/$defs/Line"}}}},
                "Line": line,
                "Money": {"type": "string"},
            },
        }

    line_a = {"properties": {"amount": {"$ref": "#/$defs/Money"}}}
    line_b = {"properties": {"hours": {"type": "number"}}}
    hoisted = catalogue.component_schemas(
        {"a.v1": envelope_schema(line_a), "b.v1": envelope_schema(line_b)}
    )
    assert sorted(hoisted) == ["Data", "Data_2", "Line", "Line_2", "Money", "a.v1", "b.v1"]
    assert hoisted["a.v1"]["properties"]["data"] == {"$ref": "#/components/schemas/Data"}
    assert hoisted["b.v1"]["properties"]["data"] == {"$ref": "#/components/schemas/Data_2"}
    assert hoisted["Data_2"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/Line_2"
    }
    assert hoisted["Line_2"] == line_b
    assert hoisted["Line"]["properties"]["amount"] == {"$ref": "#/components/schemas/Money"}
    assert "$id" not in hoisted["a.v1"]
    assert (
        sorted(r for r in _refs(hoisted) if not _resolves({"components": {"schemas": hoisted}}, r))
        == []
    )
