"""Billing's outputs go through the plumbing's outbox, to the billing topics under the
output namespace, with ids derived from what caused them (a replay re-emits the same
ids, which the outbox drops)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from billing.trusted import trusted
from msp_events import derive_event_id, make_event
from msp_events.base import EventData
from msp_events.envelope import SPECVERSION, dataschema_for
from msp_events.registry import envelope_class
from msp_events.serde import encode_value
from msp_events.topics import topic_for
from msp_events.tracing import TraceContext, trace_of
from msp_events.types.billing import Actor, LineItemReclassified, LineItemRecorded
from msp_plumbing.consumer import Tx
from msp_plumbing.outbox import OutboxRecord

SOURCE = "/billing"
_RECORDED = envelope_class(LineItemRecorded.event_type)
_RECORDED_SCHEMA = dataschema_for(LineItemRecorded.event_type)


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
        `line_items` row (`stored_json`), taken from the same encoding, so each line is
        serialised once per batch, not once for the outbox and again for the row."""
        # The hot path: the envelope is built without re-validation. Every attribute is
        # valid by construction: the customer id and time come from the validated input
        # event, the id is a derived uuid, the subject a line item id, the payload a
        # LineItemRecorded (see line_items._line_item), and `dataschema` is what the
        # envelope's validator would derive. It already carries its trace (the time
        # entry's, when that entry is an input of this batch; none otherwise, as
        # `Tx.emit` would leave it), so its outbox record is the envelope's `encode`
        # bytes, queued directly. `make_event` + `Tx.emit` give the same bytes
        # (test_pricing.py::test_constructed_line_items_validate).
        event_id = derive_event_id(item.line_item_id, "recorded", str(revision))
        trace = self._trace(item.source_event_ids[0], event_id)
        event = trusted(
            _RECORDED,
            {
                "specversion": SPECVERSION,
                "id": event_id,
                "source": SOURCE,
                "type": LineItemRecorded.event_type,
                "time": time,
                "subject": item.line_item_id,
                "datacontenttype": "application/json",
                "dataschema": _RECORDED_SCHEMA,
                "customer_id": customer_id,
                "traceparent": trace.traceparent if trace else None,
                "tracestate": trace.state if trace else None,
                "data": item,
            },
        )
        value = encode_value(event)
        self.tx.outbox.append(
            OutboxRecord(event_id, self.line_items_topic, customer_id.encode(), value)
        )
        return stored_json(item, value)

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


_DATA = b',"data":'


def stored_json(item: LineItemRecorded, envelope_json: bytes) -> str:
    """`item`'s JSON as stored in `line_items.payload` (jsonb: key order and spacing do
    not matter) from the encoded envelope that carries it: the envelope's last member
    is `data`, written without null members (`encode`), so the null ones are put back
    (`item.model_dump_json()` writes them, and the reports return the payload as it is
    stored). The first `,"data":` is the envelope's own: every member before it is a
    string, in which a quote would be escaped."""
    start = envelope_json.index(_DATA) + len(_DATA)
    data = envelope_json[start:-1].decode()
    nulls = "".join(f',"{k}":null' for k, v in item.__dict__.items() if v is None)
    return data[:-1] + nulls + "}" if nulls else data
