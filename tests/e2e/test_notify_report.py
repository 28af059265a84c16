"""The monthly SLA report, sla-clock to the customer's inbox: a month of tickets, event
time moves past the first business day of the next month, sla-clock publishes the
report and notify emails it (HTML + CSV) to the contract's report contacts through the
fleet's SMTP sink. The email's figures equal the report API's for that customer and
month."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testkit import produce, wait_for
from msp_events import Envelope
from msp_events.samples import sample_events
from msp_events.types.tickets import TicketCreated

pytestmark = pytest.mark.integration
CUSTOMER = "cust-acme"
MONTH = "2026-03"


def story() -> tuple[list[Envelope], list[Envelope]]:
    """(the contract, March's ticket events and an April ticket that moves event time
    past 1 April 08:00 London, when March's report is due)."""
    events = sample_events()
    contract = [e for e in events if e.type == "msp.contract.snapshot.v1"]
    tickets = [e for e in events if e.type.startswith("msp.ticket.")]
    opened = next(e for e in tickets if isinstance(e.data, TicketCreated))
    assert isinstance(opened.data, TicketCreated)
    april = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    later = opened.model_copy(
        update={
            "id": "e2e-april-ticket",
            "time": april,
            "subject": "TKT-APRIL",
            "data": opened.data.model_copy(update={"ticket_id": "TKT-APRIL", "opened_at": april}),
        }
    )
    return contract, [*tickets, later]


def report_mail(fleet: Fleet, address: str) -> EmailMessage:
    for path in sorted(fleet.mail_dir.glob("*.eml")):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if mail["Subject"] == f"SLA report {MONTH}: {CUSTOMER}" and address in str(mail["To"]):
            assert isinstance(mail, EmailMessage)
            return mail
    raise AssertionError(f"no report mail to {address} yet")


def table(page: str) -> dict[tuple[str, str], list[str]]:
    """The HTML summary table: (metric, priority) -> the row's cells."""
    rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", page)
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in rows]
    return {(c[0], c[1]): c for c in cells}


def number(value: Any) -> Decimal | None:
    return None if value in (None, "-", "None") else Decimal(str(value))


def test_the_report_email_carries_the_report_apis_figures(fleet: Fleet) -> None:
    contract, tickets = story()
    run_sync(lambda: produce(fleet.kafka, fleet.topic("msp.contracts.v1"), contract))
    # the contract first: sla-clock starts clocks for tickets it has a contract for
    wait_for(
        lambda: _reads(fleet, "/v1/customers/cust-acme/sla-report?month=2026-03") == 200,
        timeout=120,
        message="the contract at sla-clock",
    )
    run_sync(lambda: produce(fleet.kafka, fleet.topic("msp.tickets.v1"), tickets))

    mail = wait_for(
        lambda: report_mail(fleet, "finance@customer.example"),
        timeout=180,
        interval=0.5,
        message="March's report in the finance contact's inbox",
    )
    with httpx.Client(headers=fleet.operator_headers(), timeout=30) as http:
        url = fleet.url("sla-clock") + f"/v1/customers/{CUSTOMER}/sla-report"
        api = http.get(url, params={"month": MONTH})
        assert api.status_code == 200, api.text
        csv = http.get(url, params={"month": MONTH, "format": "csv"}).text
    report = api.json()
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    page = html_part.get_content()
    rows = table(page)
    assert report["summary"], "March has clocks"
    for line in report["summary"]:
        cells = rows[(line["metric"], line["priority"])]
        counts = [int(c) for c in cells[2:7]]
        assert counts == [line[k] for k in ("clocks", "met", "breached", "pending", "cancelled")]
        assert number(cells[7]) == number(line["met_percent"])
        assert number(cells[8]) == number(line["mean_business_seconds"])
    measured = Decimal(report["availability"]["measured_percent"])
    shown = re.search(r"Availability: ([0-9.]+)%", page)
    assert shown is not None and Decimal(shown[1]) == measured
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"sla-report-{CUSTOMER}-{MONTH}.csv"
    assert attachment.get_content().splitlines() == csv.splitlines()
    report_mail(fleet, "it@customer.example")  # both report roles, by email


def _reads(fleet: Fleet, path: str) -> int:
    try:
        with httpx.Client(headers=fleet.operator_headers(), timeout=10) as http:
            return http.get(fleet.url("sla-clock") + path).status_code
    except httpx.HTTPError:
        return 0
