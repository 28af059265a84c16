"""`mspctl publish FILE`: post events from a file through ingest's `POST /v1/events`.

The whole file is validated here first (the same `msp_events` contract ingest applies),
so a bad file publishes nothing and every bad line or field is named. Then it is posted
in batches (`application/cloudevents-batch+json`); ingest accepts each batch all or
nothing, and a re-run of the same file only reports duplicates (the event id is the
idempotency key), so a run interrupted between batches is finished by running it again.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from msp_events import EventValidationError
from msp_events.serde import parse_event
from mspctl.common import call, fail, load_settings

BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Item:
    where: str  # "line 3" (NDJSON) or "item 2" (JSON array) or "event" (one object)
    obj: Any


class InputError(ValueError):
    """A file that is not events: every problem, each naming its line/item and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def read_items(text: str) -> list[Item]:
    """A JSON object, a JSON array of objects, or NDJSON (one object per line; blank
    lines are skipped)."""
    stripped = text.strip()
    if not stripped:
        raise InputError(["file: no events (empty input)"])
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
        if stripped.startswith("["):  # an array that does not parse is not NDJSON
            raise InputError(["file: not valid JSON (a JSON array was expected)"]) from None
    if isinstance(whole, list):
        return [Item(f"item {i}", obj) for i, obj in enumerate(whole)]
    if isinstance(whole, dict):
        return [Item("event", whole)]
    items, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(Item(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})")
    if problems:
        raise InputError(problems)
    return items


def validate(items: list[Item]) -> None:
    """Every item must be a valid event; ids must be unique in the file."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for item in items:
        if not isinstance(item.obj, dict):
            problems.append(f"{item.where}: /: an event must be a JSON object")
            continue
        try:
            event = parse_event(item.obj)
        except EventValidationError as exc:
            problems.extend(f"{item.where}: {error}" for error in exc.errors)
            continue
        if event.id in seen:
            problems.append(f"{item.where}: /id: {event.id!r} repeats {seen[event.id]}")
        seen.setdefault(event.id, item.where)
    if problems:
        raise InputError(problems)


def publish(
    file: Annotated[str, typer.Argument(help="JSON event, JSON array or NDJSON file; - = stdin")],
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="MSPCTL_API_KEY", help="ingest API key (or MSPCTL_API_KEY)"
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="events per POST (ingest takes up to 1000)")
    ] = 1000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate only, publish nothing")
    ] = False,
) -> None:
    """Publish events from a file through ingest (validated first: all or nothing).

    Examples:

      mspctl publish tickets.ndjson --api-key mspk_...

      cat events.json | mspctl publish -

      mspctl publish contract.json --dry-run
    """
    settings = load_settings()
    text = sys.stdin.read() if file == "-" else _read(Path(file))
    try:
        items = read_items(text)
        validate(items)
    except InputError as exc:
        fail(f"{file}: nothing published:\n" + "\n".join(f"  {p}" for p in exc.problems))
    if dry_run:
        typer.echo(f"{file}: {len(items)} valid event(s); nothing published (--dry-run)")
        return
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    key = key or (settings.token.get_secret_value() if settings.token else None)
    if not key:
        fail("--api-key (or MSPCTL_API_KEY, or MSPCTL_TOKEN) is required to publish", code=2)
    published = duplicates = 0
    for start in range(0, len(items), batch_size):
        batch = [item.obj for item in items[start : start + batch_size]]
        response = call(
            settings,
            "ingest",
            "POST",
            "/v1/events",
            ok=(202,),
            content=json.dumps(batch).encode(),
            headers={"content-type": BATCH_MEDIA_TYPE, "authorization": f"Bearer {key}"},
        )
        body = response.json()
        published += len(body["published"])
        duplicates += len(body["duplicates"])
    typer.echo(
        f"{file}: {published + duplicates} event(s) accepted: {published} published, "
        f"{duplicates} duplicate(s) (accepted before, not published again)"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}", code=2)
