"""The event catalogue in ``docs/events/``, generated from the registries.

``python -m msp_events.catalogue OUTDIR`` writes, deterministically:
``schemas/<event type>.json`` (JSON Schema 2020-12 of each event's whole envelope; its
``$id`` is the event's ``dataschema``), ``asyncapi.json`` (AsyncAPI 3.0.0, every topic)
and ``catalogue.md`` (for people). ``--check`` writes nothing: it exits 1 listing the
files of OUTDIR that are stale, missing or extra.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from msp_events import base, bounds, envelope
from msp_events.envelope import Envelope, dataschema_for
from msp_events.registry import ENVELOPES, PAYLOADS
from msp_events.serde import CONTENT_TYPE, HEADERS, to_json_obj
from msp_events.topics import DAY_MS, TOPICS, Topic, topic_for

Schema = dict[str, Any]
COMPONENTS = "#/components/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING = {"bindingVersion": "0.5.0"}
KEY_WORDS = {"customer_id": "customer id", "original_key": "original record's key"}

# --- JSON Schemas -------------------------------------------------------------------


class _WireJsonSchema(GenerateJsonSchema):
    """The schema of what is written. Decimals (money) travel as strings: say so, not
    pydantic's number-or-string. A bare `time` is refused: pydantic would publish
    `format: time` (RFC 3339 full-time, with seconds and a UTC offset) for values it
    writes as ``08:00:00`` without one, so every record would fail a consumer that checks
    formats. Such a field says what it writes itself (see `contracts.LocalTime`)."""

    def time_schema(self, schema: core_schema.TimeSchema) -> JsonSchemaValue:
        raise TypeError(
            "a bare datetime.time field has no honest JSON Schema: annotate it with "
            "WithJsonSchema (a pattern for what its serializer writes), as LocalTime does"
        )

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        out: JsonSchemaValue = {
            "type": "string",
            "format": "decimal",
            "pattern": self.build_decimal_pattern(schema),
        }
        lower = schema.get("ge", schema.get("gt"))
        if lower is not None and lower >= 0:
            out["not"] = {"pattern": "^-"}
        return out


def model_schema(model: type[BaseModel]) -> Schema:
    """The JSON Schema of what `model` accepts, with wire names (``customerid``)."""
    return model.model_json_schema(by_alias=True, schema_generator=_WireJsonSchema)


def doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "")


def event_schema(event_type: str) -> Schema:
    """The JSON Schema of one event type's whole envelope."""
    schema = model_schema(ENVELOPES[event_type])
    schema.update(title=event_type, description=doc(PAYLOADS[event_type]))
    return {"$schema": DIALECT, "$id": dataschema_for(event_type), **schema}


def _map_refs(node: Any, rename: Callable[[str], str]) -> Any:
    """A copy of `node` with every ``$ref`` passed through `rename`."""
    if isinstance(node, dict):
        return {k: rename(v) if k == "$ref" else _map_refs(v, rename) for k, v in node.items()}
    if isinstance(node, list):
        return [_map_refs(v, rename) for v in node]
    return node


def _reachable(name: str, defs: Schema, prefix: str = "#/$defs/") -> list[str]:
    """`name` and every entry of `defs` it uses, transitively, in order of first use."""
    order: list[str] = []

    def visit(ref: str) -> str:
        target = ref.removeprefix(prefix)
        if target not in order:
            order.append(target)
            _map_refs(defs[target], visit)
        return ref

    visit(name)
    return order


def component_schemas(schemas: dict[str, Schema]) -> dict[str, Schema]:
    """The envelope schemas with their ``$defs`` hoisted beside them and refs rewritten
    to ``#/components/schemas/...``. Same-named definitions are shared when they and all
    they use are identical, and get numbered names otherwise."""
    drop = ("$defs", "$id", "$schema")  # an embedded $id would re-base the refs inside
    out = {t: {k: v for k, v in s.items() if k not in drop} for t, s in schemas.items()}
    assigned: dict[tuple[str, str], str] = {}
    for event_type in sorted(schemas):
        defs = schemas[event_type].get("$defs", {})
        names: dict[str, str] = {}
        for name in defs:
            closure = json.dumps({n: defs[n] for n in _reachable(name, defs)}, sort_keys=True)
            if (name, closure) not in assigned:
                taken, unique, n = set(out) | set(assigned.values()), name, 1
                while unique in taken:
                    n += 1
                    unique = f"{name}_{n}"
                assigned[(name, closure)] = unique
            names[name] = assigned[(name, closure)]

        def rename(ref: str, names: dict[str, str] = names) -> str:
            return COMPONENTS + names[ref.removeprefix("#/$defs/")]

        out[event_type] = _map_refs(out[event_type], rename)
        out.update({names[n]: _map_refs(body, rename) for n, body in defs.items()})
    return out


# --- AsyncAPI -----------------------------------------------------------------------


def _samples() -> dict[str, Envelope]:
    """One sample per event type from `msp_events.samples`, if that module exists."""
    try:
        module = importlib.import_module("msp_events.samples")
    except ModuleNotFoundError as exc:
        if exc.name != "msp_events.samples":
            raise
        return {}
    return {event.type: event for event in module.sample_events()}


def channel_id(topic: Topic) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", topic.name)


def _types(topic: Topic) -> list[str]:
    return [cls.event_type for cls in topic.event_types]


def retention(topic: Topic) -> str:
    days = topic.retention_ms / DAY_MS
    return "forever" if days < 0 else f"{days:g} day" + ("" if days == 1 else "s")


def topic_facts(topic: Topic) -> str:
    extra = "".join(f" Also {k}={v}." for k, v in topic.extra_config.items())
    return (
        f"Key: {KEY_WORDS[topic.key]}. Partitions: {topic.partitions}. "
        f"Cleanup: {topic.cleanup_policy}. Retention: {retention(topic)}.{extra} "
        f"Producers: {', '.join(topic.producers)}. Consumers: {', '.join(topic.consumers)}."
    )


def asyncapi_channels() -> Schema:
    channels: Schema = {}
    for topic in TOPICS:
        config: Schema = {
            k: int(v) if re.fullmatch(r"-?\d+", v) else v for k, v in topic.kafka_config().items()
        }
        config["cleanup.policy"] = [topic.cleanup_policy]
        kafka = {"topic": topic.name, "partitions": topic.partitions, "topicConfiguration": config}
        channels[channel_id(topic)] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description}\n\n{topic_facts(topic)}",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in _types(topic)},
            "bindings": {"kafka": kafka | KAFKA_BINDING},
        }
    return channels


def asyncapi_operations() -> Schema:
    """A `send` per producer role and a `receive` per consumer role of every topic."""
    operations: Schema = {}
    for topic in TOPICS:
        cid = channel_id(topic)
        messages = [{"$ref": f"#/channels/{cid}/messages/{t}"} for t in _types(topic)]
        for action, verb, roles in (
            ("send", "publishes to", topic.producers),
            ("receive", "consumes", topic.consumers),
        ):
            for role in roles:
                operations[f"{role.replace('-', '_')}_{action}s_{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{role} {verb} {topic.name}",
                    "messages": messages,
                }
    return operations


def _kafka_key(event_type: str, schema: Schema) -> Schema:
    if topic_for(event_type).key == "original_key":
        description = "The original record's key, unchanged (none if it had none)."
        return {"type": ["string", "null"], "description": description}
    wire_name = Envelope.model_fields["customer_id"].serialization_alias or "customer_id"
    key = {k: v for k, v in schema["properties"][wire_name].items() if k != "title"}
    return key | {"description": f"The customer id as UTF-8: the envelope's `{wire_name}`."}


def asyncapi_messages(components: dict[str, Schema]) -> Schema:
    samples = _samples()
    headers = {name: {"type": "string", "const": value.decode()} for name, value in HEADERS}
    messages: Schema = {}
    for event_type in ENVELOPES:
        messages[event_type] = {
            "name": event_type,
            "title": PAYLOADS[event_type].__name__,
            "summary": " ".join(doc(PAYLOADS[event_type]).split("\n\n")[0].split()),
            "contentType": CONTENT_TYPE,
            "headers": {"type": "object", "properties": headers},
            "payload": {"$ref": f"#/components/schemas/{event_type}"},
            "bindings": {
                "kafka": {"key": _kafka_key(event_type, components[event_type])} | KAFKA_BINDING
            },
        }
        if event_type in samples:
            example = {"name": "sample", "payload": to_json_obj(samples[event_type])}
            messages[event_type]["examples"] = [example]
    return messages


def asyncapi_document(components: dict[str, Schema]) -> Schema:
    """The AsyncAPI 3.0.0 document of every topic: channels, operations, messages.
    `components` are the envelope schemas hoisted by `component_schemas`."""
    description = (
        "Every Kafka topic of the MSP operations backbone, who produces and consumes it, "
        "and the events it carries. Every record value is a CloudEvents 1.0 envelope (see "
        f"'The envelope' in catalogue.md, and msp_events/envelope.py):\n\n{doc(envelope)}"
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "MSP operations event bus",
            "version": version("msp-events"),
            "description": description,
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": asyncapi_channels(),
        "operations": asyncapi_operations(),
        "components": {
            "messages": asyncapi_messages(components),
            "schemas": components,
        },
    }


# --- catalogue.md -------------------------------------------------------------------


def type_label(s: Schema) -> str:
    """A short, readable name for the type a JSON Schema describes."""
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[1]
        return f"[`{name}`]({_anchor(name)})" if s["$ref"].startswith(COMPONENTS) else f"`{name}`"
    if "const" in s or "enum" in s:
        values = [f"`{json.dumps(v)}`" for v in s.get("enum", [s.get("const")])]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in s:
            return " or ".join(type_label(option) for option in s[combinator])
    kind = s.get("type", "any")
    if kind == "array":
        return "list of " + type_label(s.get("items", {}))
    if kind == "object" and isinstance(s.get("additionalProperties"), dict):
        return "map of string to " + type_label(s["additionalProperties"])
    if s.get("format") == "decimal":
        return "decimal (string" + (", not negative)" if "not" in s else ")")
    if kind == "string" and "format" in s:
        return f"{s['format']} (string)"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def fields_table(s: Schema) -> list[str]:
    """Markdown lines of a table of the schema's fields."""
    if not s.get("properties"):
        return ["No fields." if s.get("type") == "object" else f"Type: {type_label(s)}.", ""]
    rows = ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    for name, prop in s["properties"].items():
        required = "yes" if name in s.get("required", ()) else "no"
        if "default" in prop:
            required += f" (default `{json.dumps(prop['default'])}`)"
        cells = (f"`{name}`", type_label(prop), required, prop.get("description", ""))
        rows.append(
            "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"
        )
    return [*rows, ""]


def _anchor(heading: str) -> str:
    """The link to a heading, as GitHub names it."""
    return "#" + re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def event_section(event_type: str, components: Schema, shown: set[str]) -> Iterator[str]:
    """One event type: docstring, schema link, its fields, and the nested types it uses
    that no earlier section showed."""
    payload = components[event_type]["properties"]["data"]["$ref"].removeprefix(COMPONENTS)
    yield from (f"### {event_type}", "", doc(PAYLOADS[event_type]), "")
    yield f"Schema: [schemas/{event_type}.json](schemas/{event_type}.json). `data` is:"
    yield ""
    yield from fields_table(components[payload])
    for name in _reachable(payload, components, COMPONENTS)[1:]:
        if name not in shown:
            shown.add(name)
            yield from (f"#### `{name}`", "", components[name].get("description", ""), "")
            yield from fields_table(components[name])


MARKDOWN_HEAD = """\
# Event catalogue

<!-- Generated from msp_events by `make docs` (python -m msp_events.catalogue docs/events).
Do not edit by hand. -->

Services meet only on these Kafka topics. Machine-readable: [asyncapi.json](asyncapi.json)
(AsyncAPI 3.0.0) and one JSON Schema per event type in [schemas/](schemas/).

## The envelope

{envelope}

Envelope attributes, the same on every event (`type` selects the payload in `data`):

{envelope_fields}
## Payload conventions

{conventions}

## Bounds

{bounds}

## Topics

| Topic | Key | Partitions | Cleanup | Retention | Producers → consumers |
|---|---|---|---|---|---|"""


def catalogue_markdown(components: dict[str, Schema]) -> str:
    """The human-readable catalogue: envelope rules, topics, then every event."""
    shown: set[str] = set()
    lines = MARKDOWN_HEAD.format(
        envelope=doc(envelope),
        envelope_fields="\n".join(fields_table(model_schema(Envelope))),
        conventions=doc(base),
        bounds=doc(bounds),
    ).splitlines()
    for topic in TOPICS:
        lines.append(
            f"| [`{topic.name}`]({_anchor('Topic ' + topic.name)}) | {KEY_WORDS[topic.key]} | "
            f"{topic.partitions} | {topic.cleanup_policy} | {retention(topic)} | "
            f"{', '.join(topic.producers)} → {', '.join(topic.consumers)} |"
        )
    lines.append("")
    for topic in TOPICS:
        lines += [f"## Topic {topic.name}", "", topic.description, "", topic_facts(topic), ""]
        if topic.raw:
            canonical = topic_for(topic.event_types[0].event_type).name
            lines.append(
                f"Carries, unvalidated, the events of [`{canonical}`]"
                f"({_anchor('Topic ' + canonical)}):\n"
            )
            lines += [*(f"- [`{t}`]({_anchor(t)})" for t in _types(topic)), ""]
        else:
            for event_type in _types(topic):
                lines += event_section(event_type, components, shown)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- files and command line ---------------------------------------------------------


def render() -> dict[str, str]:
    """Every file of the catalogue: path relative to OUTDIR -> content."""

    def dump(obj: Any) -> str:
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    schemas = {t: event_schema(t) for t in ENVELOPES}
    files = {f"schemas/{t}.json": dump(s) for t, s in sorted(schemas.items())}
    components = component_schemas(schemas)
    files["asyncapi.json"] = dump(asyncapi_document(components))
    files["catalogue.md"] = catalogue_markdown(components)
    return files


def differences(outdir: Path, files: dict[str, str]) -> dict[str, list[str]]:
    """Files of OUTDIR that differ from `files`: stale, missing and extra."""
    present = {p.relative_to(outdir).as_posix() for p in outdir.rglob("*") if p.is_file()}
    stale = [p for p in files if p in present and (outdir / p).read_bytes() != files[p].encode()]
    return {
        "stale": sorted(stale),
        "missing": sorted(set(files) - present),
        "extra": sorted(present - set(files)),
    }


def write(outdir: Path, files: dict[str, str]) -> list[str]:
    """Write `files` into OUTDIR, deleting schema files of event types that are gone.
    Returns the other extra files, which it leaves alone."""
    for extra in differences(outdir, files)["extra"] if outdir.is_dir() else []:
        if extra.startswith("schemas/") and extra.endswith(".json"):
            (outdir / extra).unlink()
    for path, content in files.items():
        (outdir / path).parent.mkdir(parents=True, exist_ok=True)
        (outdir / path).write_bytes(content.encode())
    return differences(outdir, files)["extra"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msp_events.catalogue", description=__doc__)
    parser.add_argument("outdir", type=Path, help="e.g. docs/events")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    files = render()
    if not args.check:
        for path in write(args.outdir, files):
            print(f"warning: {args.outdir / path} is not generated; remove it by hand")
        print(f"wrote {len(files)} files to {args.outdir}")
        return 0
    diffs = differences(args.outdir, files) if args.outdir.is_dir() else {"missing": [*files]}
    if not any(diffs.values()):
        print(f"{args.outdir} is up to date ({len(files)} files)")
        return 0
    print(f"{args.outdir} is out of date with msp_events; regenerate it with `make docs`:")
    for kind, paths in diffs.items():
        for path in paths:
            print(f"  {kind + ':':<9}{args.outdir / path}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
