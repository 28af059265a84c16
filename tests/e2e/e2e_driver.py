"""How the end-to-end test talks to the running fleet, as an outsider would: ingest's
HTTP API in (with per-source API keys), the services' HTTP APIs, their `/metrics`, and
the output topics read back from Kafka. Every wait has a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testkit import read_topic, wait_for
from msp_events import Envelope, decode
from msp_events.base import EventData
from msp_events.serde import to_json_obj

T = TypeVar("T")
D = TypeVar("D", bound=EventData)
BATCH = "application/cloudevents-batch+json"
WAIT_S = 120.0  # the machine is shared and loaded: generous, but never unbounded


@contextmanager
def step(name: str) -> Iterator[None]:
    """Names the scenario step an assertion failed in, and prints how long it took
    (measured, never asserted)."""
    began = time.monotonic()
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"step '{name}': {exc}") from exc
    print(f"e2e step '{name}': {time.monotonic() - began:.1f} s")


class Driver:
    def __init__(self, fleet: Fleet, *, kafka: str, customer: str) -> None:
        self.fleet = fleet
        self.kafka = kafka
        self.customer = customer
        self.keys = {
            source: fleet.create_api_key(source=source, customers=[customer])
            for source in ("crm", "psa", "alertmanager")
        }
        self.http = httpx.Client(timeout=60, headers=fleet.operator_headers())

    def close(self) -> None:
        self.http.close()

    # -- in -------------------------------------------------------------------------
    def post_events(self, source: str, events: Sequence[Envelope]) -> dict[str, Any]:
        r = self.http.post(
            self.fleet.url("ingest") + "/v1/events",
            json=[to_json_obj(e) for e in events],
            headers={"Authorization": f"Bearer {self.keys[source]}", "Content-Type": BATCH},
        )
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    def post_alertmanager(self, payload: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(
            self.fleet.url("ingest") + "/v1/integrations/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {self.keys['alertmanager']}"},
        )
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    # -- out: HTTP APIs and metrics --------------------------------------------------
    def get(self, service: str, path: str) -> httpx.Response:
        """GET `path` (query string included: httpx would drop it given `params`)."""
        return self.http.get(self.fleet.url(service) + path)

    def post(self, service: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.fleet.url(service) + path, json=body)

    def metric(self, service: str, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        text = self.get(service, "/metrics").text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def wait_consumed(self, service: str, registry_topic: str, *, at_least: int = 1) -> None:
        """Until `service`'s consumer has applied `at_least` records of the topic (the
        plumbing's counter, per process: counts since the service last started)."""
        topic = self.fleet.topic(registry_topic)
        wait_for(
            lambda: (
                self.metric(service, "msp_consumer_records_total", topic=topic, outcome="applied")
                >= at_least
            ),
            timeout=WAIT_S,
            interval=0.5,
            message=f"{service} to apply {at_least} record(s) of {topic}",
        )

    def wait_json(self, service: str, path: str, check: Callable[[Any], T], what: str) -> T:
        """GET until `check(json)` returns something truthy (asserts count as not yet)."""

        def probe() -> T:
            r = self.get(service, path)
            assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
            return check(r.json())

        return wait_for(probe, timeout=WAIT_S, interval=0.5, message=what)

    # -- out: topics ---------------------------------------------------------------
    def records(self, registry_topic: str) -> list[Envelope]:
        """Every record of the customer on the topic, duplicates included."""
        found = run_sync(lambda: read_topic(self.kafka, self.fleet.topic(registry_topic)))
        events = [decode(r.value) for r in found]
        return [e for e in events if e.customer_id == self.customer]

    def wait_records(
        self, registry_topic: str, check: Callable[[list[Envelope]], object], what: str
    ) -> list[Envelope]:
        def probe() -> list[Envelope]:
            events = self.records(registry_topic)
            return events if check(events) else []  # empty: not yet

        found: list[Envelope] = wait_for(probe, timeout=WAIT_S, interval=1.0, message=what)
        return found


def of_type(events: Sequence[Envelope], cls: type[D], **fields: object) -> list[D]:
    """The payloads of type `cls` with the given field values, in topic order."""
    return [
        e.data
        for e in events
        if isinstance(e.data, cls) and all(getattr(e.data, k) == v for k, v in fields.items())
    ]


def distinct_ids(events: Sequence[Envelope]) -> bool:
    return len({e.id for e in events}) == len(events)
