"""Deliveries end to end on the real broker and Postgres, to a real SMTP server
(aiosmtpd, STARTTLS + AUTH) and a real HTTP receiver that verifies the signature and
counts what it accepted (deduplicating on Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from notify_harness import (
    CUSTOMER,
    NotifyUnderTest,
    SmtpSink,
    WebhookSink,
    contract_event,
    event,
    msp_directory,
)

from msp_devstack.access import bearer, metrics_headers, new_key
from msp_devstack.testkit import wait_for_async
from msp_events.samples import sample_events
from msp_events.topics import INCIDENTS, SLA
from msp_events.types.contracts import Contact, ContactDirectory
from msp_events.types.incidents import IncidentOpened, IncidentResolved
from msp_events.types.sla import SlaBreached, SlaEscalated, SlaMonthlyReport, SlaWarning

pytestmark = pytest.mark.integration
StartNotify = Callable[..., Any]

from datetime import UTC, datetime  # noqa: E402

T = datetime(2026, 4, 14, 9, 0, tzinfo=UTC)  # Tuesday 10:00 BST: London office hours
DUE = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)


def clock(**extra: Any) -> dict[str, Any]:
    return {
        "clock_id": "clk-T-1-resolution-1",
        "ticket_id": "T-1",
        "metric": "resolution",
        "cycle": 1,
        "priority": "P2",
        "contract_id": f"ctr-{CUSTOMER}",
        "contract_version": 1,
        **extra,
    }


def warning(percent: int, level: int, roles: list[str], *, ticket: str = "T-1") -> SlaWarning:
    return SlaWarning(
        **clock(ticket_id=ticket, clock_id=f"clk-{ticket}"),
        threshold_percent=percent,
        escalation_level=level,
        roles_to_inform=roles,
        due_at=DUE,
        elapsed_business_seconds=percent * 216,
        at=T + timedelta(minutes=percent),
    )


def breach(level: int, roles: list[str]) -> SlaBreached:
    return SlaBreached(
        **clock(), due_at=DUE, breached_at=DUE, escalation_level=level, roles_to_inform=roles
    )


def escalated(percent: int, level: int, roles: list[str]) -> SlaEscalated:
    return SlaEscalated(
        **clock(),
        threshold_percent=percent,
        escalation_level=level,
        roles_to_inform=roles,
        due_at=DUE,
        elapsed_business_seconds=percent * 216,
        at=DUE + timedelta(hours=3),
        timezone="Europe/London",
    )


async def all_settled(service: NotifyUnderTest, count: int) -> list[dict[str, Any]]:
    found = await service.deliveries()
    assert len(found) == count, [(d["address"], d["status"]) for d in found]
    assert all(d["status"] in ("sent", "dead") for d in found), [d["status"] for d in found]
    return found


async def test_each_escalation_step_reaches_each_recipient_once_per_channel(
    notify_service: StartNotify,
    webhook_sink: WebhookSink,
    smtp_sink: SmtpSink,
    database_url: str,
    namespace: str,
) -> None:
    msp = msp_directory(
        service_desk_lead=[
            Contact(
                name="Sam Lead", email="sdl@msp.example", webhook_url=webhook_sink.url("/ok/sdl")
            )
        ],
        service_delivery_manager=[Contact(name="Dana Manager", email="sdm@msp.example")],
    )
    service = await notify_service(notify_directory=msp)
    customer = ContactDirectory(
        roles={
            "customer_it_contact": [
                Contact(
                    name="Priya", email="it@cust.example", webhook_url=webhook_sink.url("/ok/priya")
                )
            ]
        }
    )
    await service.send_contract(contract_event(customer))
    steps = [
        event(warning(75, 1, ["service_desk_lead"]), id="w75", at=T, subject="T-1"),
        event(
            warning(90, 2, ["service_desk_lead", "service_delivery_manager"]),
            id="w90",
            at=T,
            subject="T-1",
        ),
        event(
            breach(3, ["service_delivery_manager", "customer_it_contact"]),
            id="b100",
            at=DUE,
            subject="T-1",
        ),
        event(escalated(150, 4, ["service_desk_lead"]), id="e150", at=DUE, subject="T-1"),
    ]
    await service.send(SLA.name, steps)
    await wait_for_async(lambda: all_settled(service, 10), timeout=60, message="10 deliveries")

    # a replay of the same events plans nothing new; a later event proves it was consumed
    await service.send(SLA.name, steps)
    await service.send(
        SLA.name,
        [
            event(
                warning(75, 1, ["service_desk_lead"], ticket="T-2"),
                id="w75-T2",
                at=T,
                subject="T-2",
            )
        ],
    )
    await wait_for_async(lambda: all_settled(service, 12), timeout=60, message="12 deliveries")

    stats = webhook_sink.stats()
    assert stats["bad_signatures"] == 0
    assert stats["accepted"] == {"/ok/sdl": 4, "/ok/priya": 1}
    assert stats["duplicates"] == {}
    mails = {
        a: len(smtp_sink.to(a)) for a in ("sdl@msp.example", "sdm@msp.example", "it@cust.example")
    }
    assert mails == {"sdl@msp.example": 4, "sdm@msp.example": 2, "it@cust.example": 1}
    assert sorted(b["kind"] for b in webhook_sink.bodies("/ok/sdl")) == [
        "sla_escalation",
        "sla_warning",
        "sla_warning",
        "sla_warning",
    ]

    # what the breach says: ticket, customer, level, roles, the deadline in local time
    [mail] = smtp_sink.to("it@cust.example")
    text = mail.get_content()
    assert "Ticket T-1 of customer cust-1 (P2)" in text
    assert "Deadline: 2026-04-14 16:00 BST (Europe/London)." in text
    assert (
        "Escalation level 3; roles informed: service_delivery_manager, customer_it_contact" in text
    )
    [body] = webhook_sink.bodies("/ok/priya")
    assert body["kind"] == "sla_breach"
    assert body["facts"]["due_local"] == "2026-04-14 16:00 BST (Europe/London)"
    assert body["facts"]["escalation_level"] == 3

    # the log, tenant-scoped: cust-1's key sees them, another customer's key none
    own = await new_key(database_url, namespace=namespace, roles=["customer"], customers=[CUSTOMER])
    other = await new_key(
        database_url, namespace=namespace, roles=["customer"], customers=["cust-2"]
    )
    for key, expected in ((own, 12), (other, 0)):
        resp = await service.http.get("/v1/deliveries", headers=bearer(key))
        assert resp.status_code == 200
        assert len(resp.json()["deliveries"]) == expected
    by_event = await service.deliveries(event_id="b100")
    assert {(d["channel"], d["address"]) for d in by_event} == {
        ("email", "sdm@msp.example"),
        ("email", "it@cust.example"),
        ("webhook", webhook_sink.url("/ok/priya")),
    }


async def test_a_receiver_failing_three_times_gets_it_once_after_retries(
    notify_service: StartNotify,
    webhook_sink: WebhookSink,
) -> None:
    msp = msp_directory(
        service_desk_lead=[
            Contact(
                name="Sam", email="sdl@msp.example", webhook_url=webhook_sink.url("/flaky/3/sdl")
            )
        ]
    )
    service = await notify_service(notify_directory=msp)
    await service.send(SLA.name, [event(breach(3, ["service_desk_lead"]), id="b1", at=DUE)])

    async def sent() -> dict[str, Any]:
        found = await service.deliveries(channel="webhook")
        assert len(found) == 1 and found[0]["status"] == "sent", found
        return found[0]

    hook = await wait_for_async(sent, timeout=60, message="the webhook sent")
    assert hook["attempts"] == 4
    assert [(a["outcome"], a["http_status"]) for a in hook["attempt_log"]] == [
        ("failed", 500),
        ("failed", 500),
        ("failed", 500),
        ("sent", 200),
    ]
    assert webhook_sink.stats()["accepted"] == {"/flaky/3/sdl": 1}


async def test_a_receiver_that_never_recovers_ends_dead_lettered_and_visible(
    notify_service: StartNotify,
    webhook_sink: WebhookSink,
) -> None:
    msp = msp_directory(
        service_desk_lead=[
            Contact(name="Sam", email="sdl@msp.example", webhook_url=webhook_sink.url("/down/sdl"))
        ]
    )
    service = await notify_service(notify_directory=msp, delivery_max_attempts=3)
    await service.send(SLA.name, [event(breach(3, ["service_desk_lead"]), id="b1", at=DUE)])

    async def dead() -> dict[str, Any]:
        found = await service.deliveries(status="dead")
        assert len(found) == 1, found
        return found[0]

    hook = await wait_for_async(dead, timeout=60, message="the webhook dead-lettered")
    assert hook["channel"] == "webhook"
    assert hook["attempts"] == 3
    assert hook["last_error"] == "HTTP 500"
    assert [a["outcome"] for a in hook["attempt_log"]] == ["failed"] * 3
    assert webhook_sink.stats()["accepted"] == {}

    async def mail_sent() -> dict[str, Any] | None:  # the email worker runs on its own
        [mail] = await service.deliveries(channel="email")
        return mail if mail["status"] == "sent" else None

    # the other channel is not held back by it
    mail = await wait_for_async(mail_sent, timeout=60, message="the email sent")
    assert mail["attempts"] >= 1

    resp = await service.http.get("/metrics", headers=metrics_headers())
    assert 'msp_notify_deliveries_total{channel="webhook",status="dead"}' in resp.text


def storm_incident(i: int) -> IncidentOpened:
    return IncidentOpened(
        incident_id=f"inc-{i}",
        title=f"dev-{i} offline",
        priority="P2",
        impact="medium",
        urgency="high",
        scope="device",
        site_id="site-A",
        device_ids=[f"dev-{i}"],
        alert_fingerprints=[f"fp-{i}"],
        check_kind="device_offline",
        priority_reason="device offline at a managed site",
        tier="managed",
        opened_at=T + timedelta(seconds=i),
    )


async def test_a_forty_device_site_outage_sends_one_grouped_message_to_on_call(
    notify_service: StartNotify,
    webhook_sink: WebhookSink,
    smtp_sink: SmtpSink,
) -> None:
    msp = msp_directory(
        on_call_engineer=[
            Contact(
                name="Olu On-Call",
                email="oncall@msp.example",
                webhook_url=webhook_sink.url("/ok/oncall"),
            )
        ]
    )
    service = await notify_service(notify_directory=msp, group_window_s=10)
    customer = ContactDirectory(
        roles={"customer_it_contact": [Contact(name="Priya", email="it@cust.example")]},
        incident_roles=["customer_it_contact"],
    )
    await service.send_contract(contract_event(customer))
    opened = [
        event(storm_incident(i), id=f"open-{i}", at=T + timedelta(seconds=i)) for i in range(40)
    ]
    await service.send(INCIDENTS.name, opened)
    await wait_for_async(lambda: all_settled(service, 3), timeout=60, message="3 group messages")

    assert webhook_sink.stats()["accepted"] == {"/ok/oncall": 1}
    [body] = webhook_sink.bodies("/ok/oncall")
    assert body["count"] == 40
    assert body["title"] == "40 notices (incident opened) at site site-A (cust-1)"
    [mail] = smtp_sink.to("oncall@msp.example")
    assert "40 notices in one message:" in mail.get_content()
    assert len(smtp_sink.to("it@cust.example")) == 1

    # resolved: whoever was told it opened hears it, grouped the same way
    resolved = [
        event(
            IncidentResolved(
                incident_id=f"inc-{i}",
                resolved_at=T + timedelta(hours=1),
                duration_seconds=3600,
                reason="alerts recovered",
            ),
            id=f"res-{i}",
            at=T + timedelta(hours=1),
        )
        for i in range(40)
    ]
    await service.send(INCIDENTS.name, resolved)
    await wait_for_async(lambda: all_settled(service, 6), timeout=60, message="6 messages")
    kinds = [b["kind"] for b in webhook_sink.bodies("/ok/oncall")]
    assert kinds == ["incident_opened", "incident_resolved"]
    assert len(smtp_sink.to("it@cust.example")) == 2


async def test_the_api_refuses_a_caller_without_the_permission(
    notify_service: StartNotify, database_url: str, namespace: str
) -> None:
    service = await notify_service()
    billing = await new_key(database_url, namespace=namespace, roles=["billing"])
    resp = await service.http.get("/v1/deliveries", headers=bearer(billing))
    assert resp.status_code == 403
    bad = await service.http.get("/v1/deliveries", params={"status": "lost"})
    assert bad.status_code == 422
    assert "/query/status" in bad.text
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app), base_url="http://n"
    )
    async with anonymous:
        assert (await anonymous.get("/v1/deliveries")).status_code == 401


async def test_the_monthly_report_is_an_html_email_with_the_csv_to_the_report_contacts(
    notify_service: StartNotify,
    webhook_sink: WebhookSink,
    smtp_sink: SmtpSink,
) -> None:
    service = await notify_service()
    customer = ContactDirectory(
        roles={
            "customer_it_contact": [
                Contact(
                    name="Priya", email="it@cust.example", webhook_url=webhook_sink.url("/ok/priya")
                )
            ],
            "customer_finance": [Contact(name="Tom", email="finance@cust.example")],
            "customer_ceo": [Contact(name="Cee", email="ceo@cust.example")],
        },
        report_roles=["customer_it_contact", "customer_finance"],
    )
    await service.send_contract(contract_event(customer))
    [report] = [e for e in sample_events() if isinstance(e.data, SlaMonthlyReport)]
    await service.send(SLA.name, [report.model_copy(update={"customer_id": CUSTOMER})])
    await wait_for_async(lambda: all_settled(service, 2), timeout=60, message="2 reports")

    data = report.data
    assert isinstance(data, SlaMonthlyReport)
    for address in ("it@cust.example", "finance@cust.example"):
        [mail] = smtp_sink.to(address)
        assert mail["Subject"] == f"SLA report 2026-02: {CUSTOMER}"
        html = mail.get_body(preferencelist=("html",))
        assert html is not None
        page = html.get_content()
        for line in data.summary:  # the figures, as the report API gives them
            assert f"<td>{line.met_percent}</td>" in page
            assert f"<td>{line.mean_business_seconds}</td>" in page
        assert f"{data.clocks} clocks, {data.breaches_total} breached" in page
        assert f"Availability: {data.availability.measured_percent}%" in page
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_filename() == f"sla-report-{CUSTOMER}-2026-02.csv"
        assert attachment.get_content() == data.csv
    assert smtp_sink.to("ceo@cust.example") == []
    assert webhook_sink.stats()["accepted"] == {}  # a document goes by email only
