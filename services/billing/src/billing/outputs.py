"""Billing's outputs go through the plumbing's outbox, to the billing topics under the
output namespace, with ids derived from what caused them (a replay re-emits the same
ids, which the outbox drops)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from msp_events import derive_event_id, make_event
from msp_events.base import EventData
from msp_events.topics import topic_for
from msp_events.types.billing import LineItemReclassified, LineItemRecorded
from msp_plumbing.consumer import Tx

SOURCE = "/billing"


@dataclass
class Sink:
    tx: Tx
    namespace: str

    def emit(
        self, data: EventData, *, customer_id: str, time: dt.datetime, subject: str, id: str
    ) -> None:
        event = make_event(
            data, customer_id=customer_id, source=SOURCE, time=time, subject=subject, id=id
        )
        self.tx.emit(event, topic=topic_for(data.event_type).named(self.namespace))

    def line_item(
        self, item: LineItemRecorded, *, customer_id: str, time: dt.datetime, revision: int
    ) -> None:
        self.emit(
            item,
            customer_id=customer_id,
            time=time,
            subject=item.line_item_id,
            id=derive_event_id(item.line_item_id, "recorded", str(revision)),
        )

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
