"""Corrections end to end (real broker, Postgres, SMTP server, webhook receiver): an
SLA notice that sla-clock later corrects (`SlaOutcomeCorrected`) is followed by one
correction per recipient and channel it reached, and by none where it never arrived."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notify_harness import CUSTOMER, SmtpSink, WebhookSink, event, msp_directory

from msp_devstack.testkit import wait_for_async
from msp_events.topics import SLA
from msp_events.types.contracts import Contact
from msp_events.types.sla import SlaBreached, SlaOutcomeCorrected

pytestmark = pytest.mark.integration
StartNotify = Callable[..., Any]

DUE = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)
CLOCK: dict[str, Any] = {
    "ticket_id": "T-1",
    "metric": "resolution",
    "cycle": 1,
    "priority": "P2",
    "contract_id": f"ctr-{CUSTOMER}",
    "contract_version": 1,
    "timezone": "Europe/London",
}


def breach(ticket: str) -> SlaBreached:
    return SlaBreached(
        **{**CLOCK, "ticket_id": ticket},
        clock_id=f"clk-{ticket}",
        due_at=DUE,
        breached_at=DUE,
        escalation_level=3,
        roles_to_inform=["service_desk_lead"],
    )


def withdrawn(corrects: str) -> SlaOutcomeCorrected:
    """The breach did not happen: a late event shows the ticket resolved in time."""
    return SlaOutcomeCorrected(
        **CLOCK,
        clock_id="clk-T-1",
        corrects_event_id=corrects,
        statement="breach",
        was_at=DUE,
        now_at=None,
        outcome="met",
        outcome_at=DUE - timedelta(hours=1),
        because_of=["late-resolve"],
        corrected_at=DUE + timedelta(hours=1),
    )


async def test_a_corrected_breach_is_corrected_once_where_it_was_delivered(
    notify_service: StartNotify, webhook_sink: WebhookSink, smtp_sink: SmtpSink
) -> None:
    msp = msp_directory(
        service_desk_lead=[
            Contact(name="Sam", email="sam@msp.example", webhook_url=webhook_sink.url("/ok/sam")),
            # Dee's webhook answers 500 until dead-lettered: it never got the breach
            Contact(name="Dee", email="dee@msp.example", webhook_url=webhook_sink.url("/down/dee")),
            # Flo's webhook fails twice first: a correction consumed meanwhile waits for it
            Contact(
                name="Flo", email="flo@msp.example", webhook_url=webhook_sink.url("/flaky/2/flo")
            ),
        ]
    )
    service = await notify_service(notify_directory=msp, delivery_max_attempts=3)
    await service.send(SLA.name, [event(breach("T-1"), id="b1", at=DUE, subject="T-1")])
    # the correction (twice: a replay), and one of a notice notify never planned
    fix = event(withdrawn("b1"), id="c1", at=DUE + timedelta(hours=1), subject="T-1")
    never = event(withdrawn("w-unknown"), id="c2", at=DUE + timedelta(hours=1), subject="T-1")
    await service.send(SLA.name, [fix, never, fix])
    # a later event: once its deliveries exist, everything before it was consumed
    await service.send(SLA.name, [event(breach("T-2"), id="b2", at=DUE, subject="T-2")])

    async def settled() -> list[dict[str, Any]]:
        found = await service.deliveries()
        assert {d["event_id"] for d in found} == {"b1", "c1", "b2"}, found
        assert all(d["status"] in ("sent", "dead") for d in found), found
        return found

    found = await wait_for_async(settled, timeout=90, message="all deliveries settled")
    corrections = [d for d in found if d["event_id"] == "c1"]
    # Dee's webhook never got the breach: no correction there (whichever came first)
    assert sorted((d["channel"], d["address"], d["status"]) for d in corrections) == [
        ("email", "dee@msp.example", "sent"),
        ("email", "flo@msp.example", "sent"),
        ("email", "sam@msp.example", "sent"),
        ("webhook", webhook_sink.url("/flaky/2/flo"), "sent"),
        ("webhook", webhook_sink.url("/ok/sam"), "sent"),
    ]
    assert (
        await service.db.fetchval(
            "SELECT count(*) FROM deliveries WHERE event_id = 'c1' AND address LIKE '%/down/dee'"
        )
        == 0
    )
    # each correction follows its original: sent after it, never before
    originals = {(d["channel"], d["address"]): d for d in found if d["event_id"] == "b1"}
    for c in corrections:
        assert c["sent_at"] >= originals[(c["channel"], c["address"])]["sent_at"], c
    assert originals[("webhook", webhook_sink.url("/down/dee"))]["status"] == "dead"

    stats = webhook_sink.stats()
    assert stats["accepted"] == {"/ok/sam": 3, "/flaky/2/flo": 3}
    assert stats["duplicates"] == {}
    [body] = [b for b in webhook_sink.bodies("/ok/sam") if b["kind"] == "sla_correction"]
    assert body["facts"]["corrects_event_id"] == "b1"
    assert body["facts"]["outcome"] == "met"
    for address in ("sam@msp.example", "dee@msp.example", "flo@msp.example"):
        mails = smtp_sink.to(address)
        assert len(mails) == 3, address
    [mail] = [m for m in smtp_sink.to("sam@msp.example") if "Correction" in str(m["Subject"])]
    text = mail.get_content()
    assert "ticket T-1 of customer cust-1 (P2) did not happen: withdrawn." in text
    assert "The SLA's outcome is now: met at 2026-04-14 15:00 BST (Europe/London)." in text
