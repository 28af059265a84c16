"""End to end, all four services on the real broker and Postgres (issue 7, Deliver 3).

One managed customer's June, sent through ingest's HTTP API as the upstream systems
would (CRM contract and change order, an Alertmanager storm, PSA ticket events and time
entries), checked through the services' HTTP APIs and the output topics against
outcomes computed independently in `e2e_scenario`. Each service is stopped and
restarted once along the way (incidents and billing by SIGKILL: a crash), and the
outcomes must still be exact: nothing lost, nothing duplicated."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from e2e_driver import Driver, distinct_ids, of_type, step
from e2e_scenario import (
    CHANGE_ORDER,
    CONTRACT_ID,
    CREEP_ENTRY,
    CREEP_TICKET,
    CUSTOMER,
    DEVICE_PRICE,
    DEVICES,
    FIRST_REPLY_AT,
    INVOICE_AS_OF,
    P2_FIRST_RESPONSE_MIN,
    P2_RESOLUTION_MIN,
    PAUSED_AT,
    PERIOD,
    PROJECT_ENTRY,
    PROJECT_TICKET,
    RATE,
    RESUMED_AT,
    SITE,
    STORM_DEVICES,
    alertmanager_group,
    billed_minutes,
    change_order_event,
    contract_event,
    covered_entries,
    expected_flat_fee,
    expected_invoice_total,
    expected_project_amount,
    expected_sla,
    project_work,
    storm_ticket_after_pause,
    storm_ticket_until_pause,
)

from msp_devstack.fleet import Fleet
from msp_devstack.processes import log_tail, run_sync
from msp_devstack.testkit import read_topic
from msp_events.types.billing import InvoiceIssued, LineItemReclassified, LineItemRecorded
from msp_events.types.incidents import IncidentOpened
from msp_events.types.sla import SlaBreached, SlaClockPaused, SlaClockResumed, SlaMet, SlaWarning
from msp_events.types.tickets import TicketCreated, TicketPriorityChanged

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TICKETS, SLA = "msp.tickets.v1", "msp.sla.v1"
INCIDENTS, LINE_ITEMS = "msp.incidents.v1", "msp.billing.line-items.v1"
INVOICES, DEAD_LETTER = "msp.billing.invoices.v1", "msp.deadletter.v1"


def test_an_msp_month_end_to_end_with_every_service_restarted(
    fleet: Fleet, kafka_bootstrap: str
) -> None:
    drive = Driver(fleet, kafka=kafka_bootstrap, customer=CUSTOMER)
    try:
        walk_the_month(fleet, drive)
    except AssertionError:
        for name in fleet.names:  # what each service said, for whoever reads the failure
            print(f"--- {name} log (tail) ---\n{log_tail(fleet.log_path(name), lines=40)}")
        raise
    finally:
        drive.close()


def walk_the_month(fleet: Fleet, drive: Driver) -> None:
    with step("the CRM sends the contract; sla-clock and billing know it"):
        drive.post_events("crm", [contract_event()])
        report = f"/v1/customers/{CUSTOMER}/sla-report?month={PERIOD}"
        drive.wait_json("sla-clock", report, bool, "sla-clock to know the contract")
        drive.wait_consumed("billing", "msp.contracts.v1")

    with step("ingest restarts (clean stop) between the contract and the alerts"):
        fleet.restart("ingest")

    with step("the CRM sends the approved change order; billing has it"):
        drive.post_events("crm", [change_order_event()])
        drive.wait_consumed("billing", "msp.change-orders.v1")

    with step("Alertmanager storm, incidents crashes mid-storm"):
        first = drive.post_alertmanager(alertmanager_group(6))
        assert len(first["published"]) == 6 and first["duplicates"] == [], first
        # Crash right after ingest accepted the first notification, before or while
        # incidents triages it: after the restart every alert is triaged, none twice.
        fleet.kill("incidents")
        fleet.start_service("incidents")
        # Alertmanager's next group notification repeats the six earlier alerts
        second = drive.post_alertmanager(alertmanager_group(len(STORM_DEVICES)))
        assert len(second["published"]) == 6, second
        assert sorted(second["duplicates"]) == sorted(first["published"]), second

    with step("the storm is ONE incident with ONE proactive ticket"):
        incident = storm_incident(drive)
        ticket_id = incident["ticket_id"]
        tickets = drive.wait_records(
            TICKETS,
            lambda es: of_type(es, TicketPriorityChanged, ticket_id=ticket_id),
            "the proactive ticket and its escalation to P2",
        )
        created = of_type(tickets, TicketCreated)
        assert len(created) == 1, created
        ticket = created[0]
        assert ticket.ticket_id == ticket_id and ticket.proactive and ticket.source == "proactive"
        assert ticket.incident_id == incident["incident_id"]
        assert ticket.opened_at == expected_sla().opened_at

    with step("the PSA works the ticket, replies, and waits on the customer"):
        drive.post_events("psa", storm_ticket_until_pause(ticket_id))
        drive.wait_records(
            SLA,
            lambda es: of_type(es, SlaClockPaused, ticket_id=ticket_id),
            "the resolution clock to pause",
        )

    with step("sla-clock restarts (clean stop) while the clock is paused"):
        fleet.restart("sla-clock")

    with step("the customer answers; the clock resumes with the right deadline"):
        drive.post_events("psa", storm_ticket_after_pause(ticket_id))
        resumed = drive.wait_records(
            SLA,
            lambda es: of_type(es, SlaClockResumed, ticket_id=ticket_id),
            "the resolution clock to resume",
        )
        (event,) = of_type(resumed, SlaClockResumed, ticket_id=ticket_id)
        assert event.resumed_at == RESUMED_AT
        assert event.due_at == expected_sla().resolution_due, event

    with step("project and out-of-scope work; billing crashes before the invoice run"):
        drive.post_events("psa", project_work())
        fleet.kill("billing")
        fleet.start_service("billing")

    with step("the SLA breaches at the right business instant"):
        check_sla(drive, ticket_id)

    with step("time entries land as covered, project and scope-creep line items"):
        check_line_items(drive, ticket_id)

    with step("the scope-creep report lists the work done without a change order"):
        check_scope_creep(drive)

    with step("the invoice run; the finance topic carries the invoice"):
        check_invoice(drive)

    with step("nothing lost, nothing duplicated on any output topic"):
        check_exactly_once(drive, ticket_id)


def storm_incident(drive: Driver, *, alerts: int = len(STORM_DEVICES)) -> dict[str, Any]:
    """The customer's one incident, once it holds `alerts` alerts."""

    def one_incident_with_every_alert(body: dict[str, Any]) -> dict[str, Any]:
        items = body["items"]
        assert len(items) == 1, items
        assert items[0]["alert_count"] == alerts, items[0]
        found: dict[str, Any] = items[0]
        return found

    found: dict[str, Any] = drive.wait_json(
        "incidents",
        f"/v1/incidents?customer_id={CUSTOMER}",
        one_incident_with_every_alert,
        f"one incident holding {alerts} alerts",
    )
    # twelve devices of one site: "site unreachable", impact high x urgency medium = P2
    assert found["scope"] == "site" and found["site_id"] == SITE, found
    # the widened incident names every device and has the site's impact and device count
    assert (sorted(found["device_ids"]), found["impact"], found["title"]) == (
        STORM_DEVICES[:alerts],
        "high",
        f"Site {SITE} unreachable ({alerts} devices offline)",
    ), found
    assert found["priority"] == "P2", found
    assert found["status"] == "open" and found["ticket_id"], found
    detail = drive.get("incidents", f"/v1/incidents/{found['incident_id']}").json()
    devices = sorted(a["device_id"] for a in detail["alerts"])
    assert devices == STORM_DEVICES[:alerts], detail["alerts"]
    return found


def check_sla(drive: Driver, ticket_id: str) -> None:
    expected = expected_sla()
    events = drive.wait_records(
        SLA,
        lambda es: of_type(es, SlaBreached, ticket_id=ticket_id),
        "the breach of the storm ticket's resolution clock",
    )
    mine = [e for e in events if e.subject == ticket_id]
    met = of_type(mine, SlaMet, metric="first_response")
    assert len(met) == 1, met
    assert met[0].met_at == FIRST_REPLY_AT
    assert met[0].elapsed_business_seconds == expected.first_response_elapsed_s
    assert met[0].target_business_seconds == P2_FIRST_RESPONSE_MIN * 60

    paused = of_type(mine, SlaClockPaused, metric="resolution")
    assert len(paused) == 1, paused
    assert paused[0].paused_at == PAUSED_AT
    assert paused[0].status == "waiting_on_customer"
    assert paused[0].elapsed_business_seconds == expected.elapsed_at_pause_s

    for percent, at in expected.warnings.items():
        warned = of_type(mine, SlaWarning, metric="resolution", threshold_percent=percent)
        assert len(warned) == 1, (percent, warned)
        assert warned[0].at == at, (percent, warned[0])

    breached = of_type(mine, SlaBreached)
    assert len(breached) == 1, breached
    breach = breached[0]
    assert breach.metric == "resolution" and breach.priority == "P2", breach
    assert breach.due_at == expected.resolution_due, breach
    assert breach.breached_at == expected.resolution_due, breach
    assert (breach.contract_id, breach.contract_version) == (CONTRACT_ID, 1)

    view = drive.get("sla-clock", f"/v1/tickets/{ticket_id}/sla").json()
    clocks = {c["metric"]: c for c in view["clocks"]}
    resolution = clocks["resolution"]
    assert resolution["outcome"] == "breached" and resolution["priority"] == "P2", resolution
    assert resolution["target_business_seconds"] == P2_RESOLUTION_MIN * 60
    assert _instant(resolution["breached_at"]) == expected.resolution_due, resolution
    pauses = [(_instant(p["start"]), _instant(p["end"])) for p in resolution["pauses"]]
    assert pauses == [(PAUSED_AT, RESUMED_AT)], resolution["pauses"]
    assert clocks["first_response"]["outcome"] == "met", clocks["first_response"]


def check_line_items(drive: Driver, ticket_id: str) -> None:
    entries = {e.entry_id for e in (*covered_entries(ticket_id), PROJECT_ENTRY, CREEP_ENTRY)}
    items = drive.wait_records(
        LINE_ITEMS,
        lambda es: {e.entry_id for e in of_type(es, LineItemRecorded)} >= entries,
        "a line item for each of the four time entries",
    )
    by_entry = {e.entry_id: e for e in of_type(items, LineItemRecorded)}
    assert set(by_entry) == entries, by_entry.keys()
    for covered in covered_entries(ticket_id):
        item = by_entry[covered.entry_id]
        assert (item.classification, item.rule) == ("covered", "covered_category"), item
        assert item.ticket_id == ticket_id and item.minutes_worked == covered.minutes
        assert item.amount == Decimal(0) and item.minutes_billed == 0, item

    project = by_entry[PROJECT_ENTRY.entry_id]
    assert project.classification == "project" and project.change_order_id == CHANGE_ORDER
    assert project.minutes_worked == PROJECT_ENTRY.minutes == 130
    assert project.minutes_billed == billed_minutes(PROJECT_ENTRY.minutes) == 135
    assert project.rate == RATE and project.multiplier == Decimal(1)
    assert project.amount == expected_project_amount() == Decimal("303.75"), project
    assert project.period == PERIOD

    creep = by_entry[CREEP_ENTRY.entry_id]
    assert (creep.classification, creep.rule) == ("scope_creep", "no_change_order"), creep
    assert creep.amount == Decimal(0) and creep.minutes_worked == CREEP_ENTRY.minutes == 90


def check_scope_creep(drive: Driver) -> None:
    path = f"/v1/reports/scope-creep?customer_id={CUSTOMER}&period={PERIOD}"
    report = drive.get("billing", path).json()
    (customer,) = report["customers"]
    assert customer["minutes"] == CREEP_ENTRY.minutes, customer
    assert [t["ticket_id"] for t in customer["tickets"]] == [CREEP_TICKET], customer
    (ticket,) = customer["tickets"]
    assert ticket["entries"] == [CREEP_ENTRY.entry_id] and ticket["rules"] == ["no_change_order"]
    assert ticket["title"] == "Upgrade the accounting server OS", ticket
    assert PROJECT_TICKET not in str(report)


def check_invoice(drive: Driver) -> None:
    r = drive.post(
        "billing",
        "/v1/invoice-runs",
        {"period": PERIOD, "customer_id": CUSTOMER, "as_of": INVOICE_AS_OF},
    )
    assert r.status_code == 200, r.text
    (outcome,) = r.json()["outcomes"]
    assert outcome["outcome"] == "issued", outcome
    assert Decimal(outcome["total"]) == expected_invoice_total(), outcome

    invoices = drive.wait_records(
        INVOICES, lambda es: of_type(es, InvoiceIssued), "the invoice on the finance topic"
    )
    assert len(invoices) == 1, invoices
    (invoice,) = of_type(invoices, InvoiceIssued)
    assert invoice.invoice_id == outcome["invoice_id"] and invoice.period == PERIOD
    assert invoice.currency == "USD"
    lines = {line.classification: line for line in invoice.lines}
    assert sorted(lines) == ["flat_fee", "project"], invoice.lines
    fee = lines["flat_fee"]
    assert (fee.quantity, fee.unit_amount) == (Decimal(DEVICES), DEVICE_PRICE), fee
    assert fee.line_amount == expected_flat_fee() == Decimal("1020.00"), fee
    work = lines["project"]
    assert work.line_amount == expected_project_amount(), work
    assert work.quantity * work.unit_amount == work.line_amount, work
    assert invoice.subtotal == expected_invoice_total() == Decimal("1323.75"), invoice
    assert invoice.tax_total == Decimal(0)
    assert invoice.total == expected_invoice_total(), invoice

    again = drive.post(
        "billing",
        "/v1/invoice-runs",
        {"period": PERIOD, "customer_id": CUSTOMER, "as_of": INVOICE_AS_OF},
    )
    (rerun,) = again.json()["outcomes"]
    assert (rerun["outcome"], rerun["invoice_id"]) == ("already_issued", invoice.invoice_id)


def check_exactly_once(drive: Driver, ticket_id: str) -> None:
    """Raw records, not only distinct ids: a crash that made a relay publish twice
    would show up here as a second record with the same id."""
    incidents = drive.records(INCIDENTS)
    assert distinct_ids(incidents), Counter(e.id for e in incidents).most_common(3)
    opened = of_type(incidents, IncidentOpened)
    assert len(opened) == 1, opened

    tickets = drive.records(TICKETS)
    assert distinct_ids(tickets), Counter(e.id for e in tickets).most_common(3)
    proactive = [e for e in of_type(tickets, TicketCreated) if e.proactive]
    assert [e.ticket_id for e in proactive] == [ticket_id]

    sla = drive.records(SLA)
    assert distinct_ids(sla), Counter(e.id for e in sla).most_common(3)
    breaches = of_type(sla, SlaBreached, ticket_id=ticket_id)
    assert len(breaches) == 1

    items = drive.records(LINE_ITEMS)
    assert distinct_ids(items), Counter(e.id for e in items).most_common(3)
    recorded = of_type(items, LineItemRecorded)
    assert len(recorded) == len({e.line_item_id for e in recorded}) == 4, recorded
    assert of_type(items, LineItemReclassified) == []

    invoices = drive.records(INVOICES)
    assert len(invoices) == 1, invoices

    letters = run_sync(lambda: read_topic(drive.kafka, drive.fleet.topic(DEAD_LETTER)))
    assert letters == [], [r.value[:300] for r in letters]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)
