"""Poison input against the four running services (`msp_devstack.fleet.Fleet` on the
session's real broker and Postgres): each poison gets a clear 4xx or exactly one dead
letter with its reason, and another customer's events posted after it are applied
(clocked by sla-clock, line items from billing, incidents from triage).

The fleet is this module's own (`poison_fleet`), in event-time mode, with two
customers under contract (`GOOD`, `POISONER`) and one whose contract comes late."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import read_topic
from msp_events import Envelope, decode, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version, sample_events
from msp_events.serde import to_json_obj
from msp_events.types.contracts import ContractSnapshot
from msp_events.types.deadletter import DeadLetterRecorded
from msp_events.types.tickets import TicketCreated, TimeLogged

pytestmark = pytest.mark.integration
T = TypeVar("T")

GOOD, POISONER, LATE = "cust-good", "cust-poison", "cust-late"
CE, BATCH = "application/cloudevents+json", "application/cloudevents-batch+json"
WAIT_S = 120.0  # a loaded, shared machine: generous, never unbounded
WORK_DAY = datetime(2026, 11, 17, 10, tzinfo=UTC)  # a Tuesday, inside London's office hours
_serial = itertools.count(1)


def wait_for(check: Callable[[], T | None], message: str) -> T:
    """Poll `check` until it returns something truthy, or fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S:.0f} s waiting for {message}")
        time.sleep(0.5)


class Client:
    """The fleet as an outsider sees it: ingest's API in, the services' APIs out."""

    def __init__(self, fleet: Fleet, kafka: str) -> None:
        self.fleet, self.kafka = fleet, kafka
        self.key = fleet.create_api_key(source="poison-tests", customers=[GOOD, POISONER, LATE])
        self.http = httpx.Client(timeout=60, headers=fleet.operator_headers())

    def post(
        self, body: Any, *, content_type: str = BATCH, raw: bytes | None = None
    ) -> httpx.Response:
        return self.http.post(
            self.fleet.url("ingest") + "/v1/events",
            content=raw,
            json=None if raw is not None else body,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": content_type},
        )

    def publish(self, *events: Envelope) -> None:
        r = self.post([to_json_obj(e) for e in events])
        assert r.status_code == 202, r.text

    def get(self, service: str, path: str, **params: str) -> httpx.Response:
        return self.http.get(self.fleet.url(service) + path, params=params)

    def dead_letters(self) -> list[DeadLetterRecorded]:
        topic = self.fleet.topic("msp.deadletter.v1")
        records = run_sync(lambda: read_topic(self.kafka, topic))
        return [decode(r.value).data for r in records]  # type: ignore[misc]


def event(data: EventData, customer: str, at: datetime, subject: str | None = None) -> Envelope:
    return make_event(
        data,
        customer_id=customer,
        source="/poison-tests",
        time=at,
        subject=subject,
        id=f"poison-{next(_serial)}",
    )


def contract(customer: str) -> Envelope:
    snapshot = ContractSnapshot(contract_id=f"ctr-{customer}", versions=[sample_contract_version()])
    return event(snapshot, customer, datetime(2026, 1, 1, tzinfo=UTC))


def ticket(customer: str, ticket_id: str, opened_at: datetime = WORK_DAY) -> Envelope:
    data = TicketCreated(
        ticket_id=ticket_id,
        title="printer jammed",
        priority="P3",
        category="help_desk",
        source="phone",
        opened_at=opened_at,
    )
    return event(data, customer, min(opened_at, WORK_DAY), subject=ticket_id)


def entry(customer: str, ticket_id: str, entry_id: str, span: timedelta) -> dict[str, Any]:
    """A TimeLogged as JSON (built by hand: the contract refuses the long ones)."""
    sample = next(e for e in sample_events() if isinstance(e.data, TimeLogged))
    obj = to_json_obj(sample.model_copy(update={"id": f"poison-{next(_serial)}"}))
    obj["customerid"], obj["time"], obj["subject"] = customer, WORK_DAY.isoformat(), ticket_id
    obj["data"].update(
        entry_id=entry_id,
        ticket_id=ticket_id,
        started_at=WORK_DAY.isoformat(),
        ended_at=(WORK_DAY + span).isoformat(),
        work_category="help_desk",
    )
    for optional in ("change_order_id", "asset_id"):
        obj["data"].pop(optional, None)
    return obj


def assert_good_customer_served(client: Client) -> None:
    """GOOD's ticket and time entry, posted now (after the poison), are applied:
    sla-clock runs a clock for the ticket and billing has a line item for the entry."""
    n = next(_serial)
    ticket_id, entry_id = f"G-{n}", f"GE-{n}"
    client.publish(ticket(GOOD, ticket_id))
    r = client.post([entry(GOOD, ticket_id, entry_id, timedelta(hours=1))])
    assert r.status_code == 202, r.text

    def clocked() -> bool:
        r = client.get("sla-clock", f"/v1/tickets/{ticket_id}/sla", customer_id=GOOD)
        return r.status_code == 200 and bool(r.json()["clocks"])

    def billed() -> bool:
        r = client.get("billing", f"/v1/customers/{GOOD}/ledger/2026-11")
        return r.status_code == 200 and entry_id in r.text

    wait_for(clocked, f"sla-clock to clock {GOOD}'s ticket {ticket_id}")
    wait_for(billed, f"billing to record {GOOD}'s entry {entry_id}")


@pytest.fixture(scope="module")
def poison_fleet(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    with Fleet(
        kafka=kafka_bootstrap,
        database_url=database_url,
        namespace=new_namespace(),
        data_dir=tmp_path_factory.mktemp("poison-fleet"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(poison_fleet: Fleet, kafka_bootstrap: str) -> Iterator[Client]:
    c = Client(poison_fleet, kafka_bootstrap)
    c.publish(contract(GOOD), contract(POISONER))
    assert_good_customer_served(c)  # the baseline: the fleet serves GOOD before any poison
    yield c
    c.http.close()


# -- time: the 9999 alert, the 9999 ticket before its contract, the 1,000-year entry ---


def test_an_alert_dated_9999_is_refused_and_triage_continues(client: Client) -> None:
    firing = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    poison = to_json_obj(firing.model_copy(update={"customer_id": POISONER, "id": "a-9999"}))
    poison["time"] = "9999-12-31T00:00:00Z"
    r = client.post(poison, content_type=CE)
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/time"]
    in_data = to_json_obj(firing.model_copy(update={"customer_id": POISONER, "id": "a-9999b"}))
    in_data["data"]["starts_at"] = "9999-12-31T00:00:00+00:00"
    r = client.post(in_data, content_type=CE)
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/data/starts_at"]

    good = firing.model_copy(update={"customer_id": GOOD, "id": "a-good"})
    client.publish(good)

    def triaged() -> bool:
        r = client.get("incidents", "/v1/incidents", customer_id=GOOD)
        return r.status_code == 200 and bool(r.json()["items"])

    wait_for(triaged, f"an incident for {GOOD}'s alert")
    assert_good_customer_served(client)


def test_a_ticket_beyond_the_window_before_its_contract_blames_the_ticket(
    client: Client,
) -> None:
    """9999 is refused at the door; 2099-12-31 is inside the window but its SLA
    deadline is not: it waits for LATE's contract, and when the contract comes the
    ticket alone is dead-lettered (by sla-clock), the contract applies, LATE's other
    ticket is clocked."""
    far = to_json_obj(ticket(LATE, "L-9999"))
    far["data"]["opened_at"] = "9999-12-31T00:00:00Z"
    r = client.post([far])
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/0/data/opened_at"]

    edge = ticket(LATE, "L-edge", opened_at=datetime(2099, 12, 31, 23, tzinfo=UTC))
    client.publish(edge, ticket(LATE, "L-fine"))
    client.publish(contract(LATE))

    def fine_clocked() -> bool:
        r = client.get("sla-clock", "/v1/tickets/L-fine/sla", customer_id=LATE)
        return r.status_code == 200 and bool(r.json()["clocks"])

    wait_for(fine_clocked, "LATE's other ticket clocked once the contract arrived")
    letters = wait_for(
        lambda: [d for d in client.dead_letters() if "L-edge" in d.reason],
        "the waiting ticket's dead letter",
    )
    assert [d.service for d in letters] == ["sla-clock"]
    original = decode(base64.b64decode(letters[0].original_value_b64))  # ingest added a trace
    assert (original.id, original.data) == (edge.id, edge.data)
    assert not [d for d in client.dead_letters() if d.original_topic.endswith("contracts.v1")]
    assert_good_customer_served(client)


def test_a_thousand_year_time_entry_is_refused(client: Client) -> None:
    for span in (timedelta(days=365_000), timedelta(hours=25)):
        r = client.post([entry(POISONER, "P-1", f"PE-{span.days}", span)])
        assert r.status_code == 422, r.text
        assert [e["pointer"] for e in r.json()["errors"]] == ["/0/data/ended_at"]
    assert_good_customer_served(client)


# -- size, NUL bytes, months -------------------------------------------------------------


def test_an_extreme_but_valid_ticket_under_contract_is_one_dead_letter(client: Client) -> None:
    """Inside the window, its SLA deadline is not: sla-clock dead-letters that ticket
    alone (the plumbing's record-by-record retry) and moves on."""
    edge = ticket(POISONER, "P-edge", opened_at=datetime(2099, 12, 31, 23, tzinfo=UTC))
    client.publish(edge)
    letters = wait_for(
        lambda: [d for d in client.dead_letters() if decode(d.original_value()).id == edge.id],
        "the extreme ticket's dead letter",
    )
    assert [d.service for d in letters] == ["sla-clock"]
    assert letters[0].reason.startswith("handler failed")
    assert_good_customer_served(client)


def test_a_two_megabyte_valid_event_is_a_413_naming_the_limit(client: Client) -> None:
    """Valid against the contract and under the request body limit (2 MiB), over the
    per-event limit under Kafka's record size: refused before anything is claimed, so
    nothing is published and the client does not retry it."""
    firing = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    notes = {f"note-{i}": "x" * 10_000 for i in range(200)}  # 2,000,000 bytes of values
    big = firing.model_copy(
        update={
            "customer_id": POISONER,
            "id": "a-2mb",
            "data": firing.data.model_copy(update={"annotations": notes}),
        }
    )
    body = to_json_obj(big)
    r = client.post(body, content_type=CE)
    assert r.status_code == 413, r.text
    (error,) = r.json()["errors"]
    assert "a-2mb" in error["message"] and "the limit is 1000000" in error["message"]
    assert "nothing was published" in r.json()["message"]
    assert_good_customer_served(client)  # and, posted after it, GOOD's work is applied
    monitoring = client.fleet.topic("msp.monitoring.v1")
    ids = [decode(rec.value).id for rec in run_sync(lambda: read_topic(client.kafka, monitoring))]
    assert "a-2mb" not in ids


def test_a_nul_character_in_an_event_is_a_422_naming_it(client: Client) -> None:
    firing = next(e for e in sample_events() if e.type == "msp.monitoring.alert_firing.v1")
    poison = to_json_obj(firing.model_copy(update={"customer_id": POISONER, "id": "a-nul"}))
    poison["data"]["summary"] = "disk\u0000full"
    r = client.post(poison, content_type=CE)
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/data/summary"]
    assert_good_customer_served(client)


@pytest.mark.parametrize(
    ("service", "path", "params", "field"),
    [
        ("incidents", "/v1/incidents", {"customer_id": "a\x00b"}, ["query", "customer_id"]),
        ("incidents", "/v1/incidents/inc%00x", {}, ["path", "incident_id"]),
        ("sla-clock", "/v1/tickets/T%001/sla", {}, ["path", "ticket_id"]),
        ("sla-clock", "/v1/tickets/T-1/sla", {"customer_id": "\x00"}, ["query", "customer_id"]),
        ("billing", "/v1/reports/scope-creep", {"customer_id": "a\x00"}, ["query", "customer_id"]),
    ],
)
def test_a_nul_byte_in_a_parameter_is_a_422_naming_it(
    client: Client, service: str, path: str, params: dict[str, str], field: list[str]
) -> None:
    r = client.get(service, path, **params)
    assert r.status_code == 422, r.text
    assert pointer(field) in [e["pointer"] for e in r.json()["errors"]]


def pointer(loc: list[str]) -> str:
    """The JSON pointer the one error body names for a FastAPI location (`msp_access`)."""
    return "".join(f"/{part}" for part in (loc[1:] if loc[0] == "body" else loc))


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_a_month_outside_the_window_is_a_422_naming_it(client: Client, month: str) -> None:
    report = client.get("sla-clock", f"/v1/customers/{GOOD}/sla-report", month=month)
    assert report.status_code == 422, report.text
    assert "/query/month" in [e["pointer"] for e in report.json()["errors"]]
    ledger = client.get("billing", f"/v1/customers/{GOOD}/ledger/{month}")
    assert ledger.status_code == 422, ledger.text
    assert "/path/period" in [e["pointer"] for e in ledger.json()["errors"]]
    run = client.http.post(client.fleet.url("billing") + "/v1/invoice-runs", json={"period": month})
    assert run.status_code == 422, run.text
    assert "/period" in [e["pointer"] for e in run.json()["errors"]]
    assert_good_customer_served(client)
