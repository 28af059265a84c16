"""A steady mixed load through ingest's HTTP API, sent as well-behaved clients send it:
what the fault suite (`tests/faults/test_system_faults.py`) and `make bench-faults` run
while they break things.

Each request is one of: a CloudEvents batch of a ticket and a time entry on it, one
CloudEvents alert, a CloudEvents batch of alerts, an Alertmanager webhook of two
alerts; customers in turn. Every alert has its own fingerprint, device and site (so
each one opens its own incident), every ticket and entry its own id, so what each
accepted event must become downstream is known (`Expected`).

The clients retry: on 503 (or a connection refused while ingest restarts) they wait
the `Retry-After` and post the same body again (the same event ids), until a 202 or
their deadline. Every attempt has a timeout; an attempt that hits it is recorded as a
hang, a status other than 202/503 as itself. The loop is bounded: at most
`max_in_flight` requests at once (a new one waits while they retry), and `stop()`
waits for the ones in flight, each bounded by its deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from msp_events import Envelope, make_event
from msp_events.samples import sample_contract_version
from msp_events.serde import to_json_obj
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.monitoring import AlertFiring
from msp_events.types.tickets import TicketCreated, TimeLogged

Kind = Literal["alert", "ticket", "entry"]
BATCH = "application/cloudevents-batch+json"
CE = "application/cloudevents+json"
SOURCE = "/faults-load"


@dataclass(frozen=True)
class Expected:
    """What an accepted event must become downstream: an alert's fingerprint in an
    incident, a ticket's id on an SLA clock, an entry's id on a line item."""

    kind: Kind
    customer: str
    key: str


@dataclass(frozen=True)
class Request:
    path: str
    body: Any
    content_type: str
    expected: tuple[Expected, ...]


@dataclass
class LoadReport:
    """Everything the clients saw, cumulative over every `running()` period."""

    statuses: Counter[str] = field(default_factory=Counter)
    """Attempts by outcome: "202", "503", "connect" (refused), "hang" (the attempt
    timed out), "no answer (...)" (the connection closed without a response), any
    other status code as itself."""
    accepted: dict[str, Expected] = field(default_factory=dict)
    """Event id -> what it must become, for every event answered 202."""
    accepted_at: list[float] = field(default_factory=list)
    """time.monotonic() of each 202."""
    gave_up: int = 0
    """Requests still unanswered by a 202 at their deadline."""
    requests: int = 0


def contract_event(customer: str) -> Envelope:
    """A managed contract for `customer` (the samples' one, without its Sunday-night
    maintenance window, which would suppress alerts if the suite ran then)."""
    version = sample_contract_version().model_copy(update={"maintenance_windows": []})
    snapshot = ContractSnapshot(contract_id=f"ctr-{customer}", versions=[version])
    return make_event(
        snapshot,
        customer_id=customer,
        source=SOURCE,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        id=f"contract-{customer}-{uuid.uuid4().hex[:8]}",
    )


class RequestMaker:
    """The mixed requests, in turn; ids unique to this maker."""

    def __init__(self, customers: Sequence[str]) -> None:
        self.customers = list(customers)
        self.run = uuid.uuid4().hex[:6]
        self._serial = itertools.count(1)
        self._customer = itertools.cycle(self.customers)
        self._shape = itertools.cycle(
            (self.ticket_and_entry, self.alert, self.alert_batch, self.alertmanager)
        )

    def next(self) -> Request:
        return next(self._shape)(next(self._customer))

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{self.run}-{next(self._serial)}"

    def _event(self, data: Any, customer: str, subject: str | None = None) -> Envelope:
        return make_event(
            data,
            customer_id=customer,
            source=SOURCE,
            time=datetime.now(UTC),
            subject=subject,
            id=self._id("ev"),
        )

    def _firing(self, customer: str) -> tuple[Envelope, Expected]:
        fp = self._id("fp")
        now = datetime.now(UTC)
        data = AlertFiring(
            source_system="rmm",
            source_fingerprint=fp,
            device_id=f"dev-{fp}",
            site_id=f"site-{fp}",
            check="DiskAlmostFull",
            check_kind="disk_space",
            severity="major",
            summary="disk C: 95% full",
            starts_at=now - timedelta(seconds=5),
        )
        return self._event(data, customer, f"dev-{fp}"), Expected("alert", customer, fp)

    def alert(self, customer: str) -> Request:
        event, expected = self._firing(customer)
        return Request("/v1/events", to_json_obj(event), CE, (expected,))

    def alert_batch(self, customer: str) -> Request:
        pairs = [self._firing(customer) for _ in range(3)]
        body = [to_json_obj(e) for e, _ in pairs]
        return Request("/v1/events", body, BATCH, tuple(x for _, x in pairs))

    def ticket_and_entry(self, customer: str) -> Request:
        ticket_id, entry_id = self._id("tkt"), self._id("te")
        now = datetime.now(UTC)
        ticket = TicketCreated(
            ticket_id=ticket_id,
            title="printer jammed",
            priority="P3",
            category="help_desk",
            source="phone",
            opened_at=now - timedelta(minutes=30),
        )
        entry = TimeLogged(
            entry_id=entry_id,
            ticket_id=ticket_id,
            technician_id="tech-1",
            started_at=now - timedelta(minutes=20),
            ended_at=now - timedelta(minutes=5),
            work_category="help_desk",
        )
        body = [
            to_json_obj(self._event(ticket, customer, ticket_id)),
            to_json_obj(self._event(entry, customer, ticket_id)),
        ]
        expected = (Expected("ticket", customer, ticket_id), Expected("entry", customer, entry_id))
        return Request("/v1/events", body, BATCH, expected)

    def alertmanager(self, customer: str) -> Request:
        """An Alertmanager webhook (payload version 4) with two firing alerts."""
        alerts, expected = [], []
        starts = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
        for _ in range(2):
            fp = self._id("amfp")
            alerts.append(
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "DeviceOffline",
                        "customer": customer,
                        "instance": f"dev-{fp}",
                        "site": f"site-{fp}",
                        "severity": "critical",
                        "check_kind": "device_offline",
                    },
                    "annotations": {"summary": "stopped answering"},
                    "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example/graph?g0.expr=up",
                    "fingerprint": fp,
                }
            )
            expected.append(Expected("alert", customer, fp))
        body = {
            "receiver": "msp-ingest",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {},
            "commonLabels": {"customer": customer, "alertname": "DeviceOffline"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
        }
        return Request("/v1/integrations/alertmanager", body, "application/json", tuple(expected))


class SteadyLoad:
    """`requests_per_s` mixed requests (about 2 events each) to `ingest_url` with `key`,
    in a thread of its own while `running()` is entered."""

    def __init__(
        self,
        *,
        ingest_url: str,
        key: str,
        customers: Sequence[str],
        requests_per_s: float = 20.0,
        max_in_flight: int = 64,
        deadline_s: float = 120.0,
        attempt_timeout_s: float = 30.0,
    ) -> None:
        self.ingest_url = ingest_url
        self.key = key
        self.maker = RequestMaker(customers)
        self.requests_per_s = requests_per_s
        self.max_in_flight = max_in_flight
        self.deadline_s = deadline_s
        self.attempt_timeout_s = attempt_timeout_s
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._abort = threading.Event()

    # -- what callers use -------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[SteadyLoad]:
        """Send while inside; on exit stop sending and wait for every request in flight
        (each bounded by `deadline_s`)."""
        self._stop.clear()
        self._abort.clear()
        thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        thread.start()
        try:
            yield self
        except BaseException:
            self._abort.set()  # the caller failed: its clients stop retrying at once
            raise
        finally:
            self._stop.set()
            thread.join(self.deadline_s + self.attempt_timeout_s + 10)
            if thread.is_alive():
                raise RuntimeError("the load's clients did not finish by their deadline")

    def accepted(self) -> dict[str, Expected]:
        with self._lock:
            return dict(self.report.accepted)

    def accepted_since(self, since: float) -> int:
        """How many events were answered 202 after `since` (time.monotonic())."""
        with self._lock:
            return sum(1 for t in self.report.accepted_at if t >= since)

    # -- the clients -------------------------------------------------------------------
    async def _main(self) -> None:
        slots = asyncio.Semaphore(self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        # a connection per request: a kept-alive one that the server closes as idle
        # just as a request goes out fails that request without any answer from
        # ingest (a race of HTTP keep-alive, not an answer to judge ingest by)
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(
            base_url=self.ingest_url, headers=headers, limits=limits
        ) as http:
            interval = 1.0 / self.requests_per_s
            next_at = time.monotonic()
            while not self._stop.is_set():
                await slots.acquire()  # bounded: wait while max_in_flight are retrying
                if self._stop.is_set():
                    slots.release()
                    break
                task = asyncio.create_task(self._one(http, self.maker.next(), slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at = max(next_at + interval, time.monotonic() - 1.0)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if tasks:
                await asyncio.gather(*tasks)

    async def _one(
        self, http: httpx.AsyncClient, request: Request, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._post_until_accepted(http, request)
        finally:
            slots.release()

    async def _post_until_accepted(self, http: httpx.AsyncClient, request: Request) -> None:
        deadline = time.monotonic() + self.deadline_s
        with self._lock:
            self.report.requests += 1
        while True:
            outcome, ids, retry_after = await self._attempt(http, request)
            with self._lock:
                self.report.statuses[outcome] += 1
                if outcome == "202":
                    self.report.accepted.update(zip(ids, request.expected, strict=True))
                    self.report.accepted_at.extend([time.monotonic()] * len(ids))
                    return
            if outcome.startswith("4") and outcome != "429":
                with self._lock:
                    self.report.gave_up += 1  # refused: posting it again cannot help
                return
            if time.monotonic() + retry_after > deadline or self._abort.is_set():
                with self._lock:
                    self.report.gave_up += 1
                return
            await asyncio.sleep(retry_after)

    async def _attempt(
        self, http: httpx.AsyncClient, request: Request
    ) -> tuple[str, list[str], float]:
        """One post: (outcome, accepted ids, seconds to wait before a retry)."""
        try:
            r = await http.post(
                request.path,
                json=request.body,
                headers={"Content-Type": request.content_type},
                timeout=self.attempt_timeout_s,
            )
        except httpx.TimeoutException:
            return "hang", [], 1.0
        except httpx.ConnectError:
            return "connect", [], 1.0  # ingest restarting: a real client retries too
        except httpx.TransportError as exc:  # connected, then no answer
            return f"no answer ({type(exc).__name__})", [], 1.0
        if r.status_code == 202:
            return "202", [str(i) for i in r.json()["ids"]], 0.0
        return str(r.status_code), [], _retry_after(r)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.2, min(5.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0
