"""Billing's outputs go through the plumbing's outbox, to the billing topics under the
output namespace, with ids derived from what caused them (a replay re-emits the same
ids, which the outbox drops)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from pydantic_core import to_json

from msp_events import derive_event_id, make_event
from msp_events.base import EventData
from msp_events.envelope import SPECVERSION, dataschema_for
from msp_events.topics import topic_for
from msp_events.tracing import TraceContext, trace_of
from msp_events.types.billing import Actor, LineItemReclassified, LineItemRecorded
from msp_plumbing.consumer import Tx
from msp_plumbing.outbox import OutboxRecord

SOURCE = "/billing"


@dataclass
class Sink:
    tx: Tx
    namespace: str
    actor: Actor | None = None
    """The caller of the API call being served (None for consumer work): written into
    every emitted event that has an `actor` field."""

    def emit(
        self, data: EventData, *, customer_id: str, time: dt.datetime, subject: str, id: str
    ) -> None:
        if self.actor is not None and "actor" in type(data).model_fields:
            data = data.model_copy(update={"actor": self.actor})
        event = make_event(
            data, customer_id=customer_id, source=SOURCE, time=time, subject=subject, id=id
        )
        self.tx.emit(event, topic=topic_for(data.event_type).named(self.namespace))

    def line_item(
        self, item: LineItemRecorded, *, customer_id: str, time: dt.datetime, revision: int
    ) -> str:
        """Queue the `LineItemRecorded` event of `item`; returns `item`'s JSON for its
        `line_items` row (`stored_json`), so each line is serialised once, not once for
        the outbox and again for the row.

        The hot path: the envelope is written without building and re-validating it.
        Every attribute is valid by construction: the customer id and time come from
        the validated input event (or a stored, validated one), the id is a derived
        uuid, the subject a line item id, the payload a LineItemRecorded (see
        line_items._line_item), and `dataschema` is what the envelope's validator would
        derive. The trace is the time entry's when that entry is an input of this batch;
        otherwise there is none, as `Tx.emit` would leave it. `make_event` + `Tx.emit`
        give the same bytes (test_pricing.py::test_constructed_line_items_validate)."""
        event_id = derive_event_id(item.line_item_id, "recorded", str(revision))
        trace = self._trace(item.source_event_ids[0], event_id)
        data = item.model_dump_json(by_alias=True, exclude_none=True)
        value = recorded_json(
            event_id=event_id,
            time=time,
            subject=item.line_item_id,
            customer_id=customer_id,
            trace=trace,
            data=data,
        )
        self.tx.outbox.append(
            OutboxRecord(event_id, self.line_items_topic, customer_id.encode(), value)
        )
        return stored_json(item, data)

    def _trace(self, cause_id: str, event_id: str) -> TraceContext | None:
        cause = self.tx.inputs.get(cause_id)
        parent = trace_of(cause) if cause is not None else None
        return parent.child(event_id) if parent is not None else None

    @functools.cached_property
    def line_items_topic(self) -> str:
        return topic_for(LineItemRecorded.event_type).named(self.namespace)

    def reclassified(
        self, change: LineItemReclassified, *, customer_id: str, revision: int
    ) -> None:
        self.emit(
            change,
            customer_id=customer_id,
            time=change.reclassified_at,
            subject=change.line_item_id,
            id=derive_event_id(change.line_item_id, "reclassified", str(revision)),
        )


def recorded_json(
    *,
    event_id: str,
    time: dt.datetime,
    subject: str,
    customer_id: str,
    trace: TraceContext | None,
    data: str,
) -> bytes:
    """The `LineItemRecorded` envelope as `msp_events.encode` writes it (members in the
    envelope's field order, None members left out, `data` last), around the payload's
    own JSON; each value written by pydantic's serialiser (`to_json`: the same string
    escaping and datetime format)."""
    traced = (
        b""
        if trace is None
        else b',"traceparent":'
        + to_json(trace.traceparent)
        + (b"" if trace.state is None else b',"tracestate":' + to_json(trace.state))
    )
    return b"".join(
        (
            _HEAD,
            to_json(event_id),
            _SOURCE_TYPE,
            to_json(time),
            b',"subject":',
            to_json(subject),
            _SCHEMA,
            to_json(customer_id),
            traced,
            b',"data":',
            data.encode(),
            b"}",
        )
    )


_HEAD = b'{"specversion":"' + SPECVERSION.encode() + b'","id":'
_SOURCE_TYPE = (
    b',"source":'
    + to_json(SOURCE)
    + b',"type":'
    + to_json(LineItemRecorded.event_type)
    + b',"time":'
)
_SCHEMA = (
    b',"datacontenttype":"application/json","dataschema":'
    + to_json(dataschema_for(LineItemRecorded.event_type))
    + b',"customerid":'
)
_MEMBERS = tuple(LineItemRecorded.model_fields)


def stored_json(item: LineItemRecorded, data: str) -> str:
    """`item`'s JSON as stored in `line_items.payload` (jsonb: member order and spacing
    do not matter) from its JSON without None members (`data`): the null members are put
    back, as `item.model_dump_json()` writes them (the reports return the payload as it
    is stored)."""
    values = item.__dict__
    nulls = "".join(f',"{k}":null' for k in _MEMBERS if values[k] is None)
    return data[:-1] + nulls + "}" if nulls else data
