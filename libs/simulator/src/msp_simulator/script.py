"""What the simulator posts, and the builder the storylines write it with.

A `Post` is one HTTP request to ingest at one instant of event time: a batch of
CloudEvents for `/v1/events`, or one Alertmanager notification for
`/v1/integrations/alertmanager`. Every id is uuid5 of the seed, the storyline and the
thing's own name (`derive_event_id`), so playing the same seed twice posts the same ids
and ingest answers the second time with duplicates only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from msp_events.base import EventData
from msp_events.envelope import Envelope
from msp_events.serde import derive_event_id, make_event, to_json_obj
from msp_events.types.monitoring import AlertFiring, AlertResolved
from msp_simulator.alerts import webhook

Channel = Literal["events", "alertmanager"]
SOURCES: Mapping[str, str] = {
    "tickets": "/sim/psa",
    "contracts": "/sim/crm",
    "change_orders": "/sim/crm",
    "monitoring": "/sim/rmm",
}


@dataclass(frozen=True)
class Post:
    at: datetime
    """Event time of the request (the latest event time in it)."""
    story: str
    customer_id: str
    channel: Channel
    events: tuple[Envelope, ...]
    """The canonical events this request stands for. For Alertmanager, ingest derives
    its own ids from the webhook (fingerprint + times), so only the content matches."""
    webhook: Mapping[str, Any] | None = None

    def body(self) -> Any:
        if self.channel == "alertmanager":
            return self.webhook
        return [to_json_obj(e) for e in self.events]


@dataclass
class Script:
    """Collects the month's posts; `posts()` returns them in event-time order."""

    seed: int
    _posts: list[tuple[datetime, int, Post]] = field(default_factory=list)

    def event_id(self, story: str, *parts: str) -> str:
        return derive_event_id("msp-simulator", str(self.seed), story, *parts)

    def envelope(
        self, story: str, customer_id: str, data: EventData, at: datetime, *parts: str
    ) -> Envelope:
        domain = data.event_type.split(".")[1]
        source = {"ticket": "tickets", "contract": "contracts", "change_order": "change_orders"}
        return make_event(
            data,
            customer_id=customer_id,
            source=SOURCES[source.get(domain, "monitoring")],
            time=at,
            subject=getattr(data, "ticket_id", None) or getattr(data, "device_id", None),
            id=self.event_id(story, customer_id, data.event_type, *parts),
        )

    def events(self, story: str, customer_id: str, at: datetime, *items: Envelope) -> None:
        self._add(Post(at, story, customer_id, "events", tuple(items)))

    def post(
        self, story: str, customer_id: str, data: EventData, at: datetime, *parts: str
    ) -> Envelope:
        """One event, posted on its own at `at`."""
        envelope = self.envelope(story, customer_id, data, at, *parts)
        self.events(story, customer_id, at, envelope)
        return envelope

    def alertmanager(
        self,
        story: str,
        customer_id: str,
        at: datetime,
        alerts: Sequence[AlertFiring | AlertResolved],
        *,
        starts: Mapping[str, datetime] | None = None,
    ) -> None:
        items = tuple(
            self.envelope(story, customer_id, a, at, a.source_fingerprint, at.isoformat())
            for a in alerts
        )
        body = webhook(customer_id, story, alerts, starts=starts)
        self._add(Post(at, story, customer_id, "alertmanager", items, body))

    def _add(self, post: Post) -> None:
        self._posts.append((post.at, len(self._posts), post))

    def posts(self) -> tuple[Post, ...]:
        return tuple(p for _, _, p in sorted(self._posts, key=lambda t: (t[0], t[1])))
