"""`mspctl tail TOPIC`: a topic's records, decoded with the `msp_events` contract, one
line each (records that do not decode are shown as such, never skipped silently)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from msp_events import EventValidationError, decode
from msp_events.topics import TOPICS, by_name
from mspctl.common import fail, load_settings
from mspctl.kafka_io import TopicMissing, records


def registry_topic(name: str) -> str:
    """The registry name of `name`, or a clear error listing every registry topic."""
    try:
        return by_name(name).name
    except KeyError:
        names = "\n".join(f"  {t.name}  {t.description}" for t in TOPICS)
        fail(f"unknown topic {name!r}; the registry has:\n{names}", code=2)


def render(record: Any, *, as_json: bool) -> tuple[str, str | None, str | None]:
    """(line, customer id, event type) of a consumed record."""
    try:
        event = decode(record.value or b"")
    except EventValidationError as exc:
        key = record.key.decode("utf-8", "replace") if record.key else "-"
        where = f"p{record.partition}@{record.offset}"
        return f"{where} UNDECODABLE key={key} {exc}", None, None
    data = event.data.model_dump(mode="json", exclude_none=True)
    if as_json:
        line = json.dumps(event.model_dump(mode="json", by_alias=True, exclude_none=True))
    else:
        line = (
            f"{event.time.isoformat()} {event.type} customer={event.customer_id} "
            f"subject={event.subject or '-'} id={event.id} {json.dumps(data, sort_keys=True)}"
        )
    return line, event.customer_id, event.type


def tail(
    topic: Annotated[str, typer.Argument(help="registry topic name, e.g. msp.tickets.v1")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="every record still on the topic")
    ] = False,
    last: Annotated[
        int, typer.Option(min=0, help="without --from-beginning: last N per partition")
    ] = 10,
    follow: Annotated[
        bool,
        typer.Option("--follow/--no-follow", "-f", help="keep printing new records until Ctrl-C"),
    ] = False,
    customer: Annotated[str | None, typer.Option(help="only this customer's events")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="only this event type, e.g. msp.ticket.created.v1")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="the whole event as JSON per line")
    ] = False,
) -> None:
    """Print a topic's events decoded, one line each (time, type, customer, subject, id, data).

    Examples:

      mspctl tail msp.tickets.v1 --from-beginning --customer cust-acme

      mspctl tail msp.sla.v1 --type msp.sla.breached.v1 --follow

      mspctl tail msp.deadletter.v1 --last 5 --json
    """
    name = registry_topic(topic)
    settings = load_settings()

    async def run() -> int:
        shown = 0
        stream = records(
            settings.kafka_bootstrap_servers,
            settings.topic(name),
            last=None if from_beginning else last,
            follow=follow,
            on_follow=lambda: typer.echo(f"mspctl: following {name}; Ctrl-C stops", err=True),
        )
        async for record in stream:
            line, cust, etype = render(record, as_json=as_json)
            if customer is not None and cust != customer:
                continue
            if event_type is not None and etype != event_type:
                continue
            typer.echo(line)
            shown += 1
        return shown

    try:
        asyncio.run(run())
    except TopicMissing as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
