"""The pure rules: who hears what, quiet hours, the texts, the message shapes, the
signature."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import given
from hypothesis import strategies as st

from msp_events.samples import sample_contract_version
from msp_events.types.contracts import BusinessCalendar, Contact, ContactDirectory, TimeRange
from msp_events.types.sla import SlaOutcomeCorrected, SlaWarning
from notify import render
from notify.rules import Recipient, correction_notice, directory_for, not_before, sla_notice
from notify.service import delivery_id

OFFICE = BusinessCalendar(
    weekly_hours={d: [TimeRange(start=time(9), end=time(17))] for d in ("mon", "tue", "wed")}
)
MSP = ContactDirectory(
    roles={
        "service_desk_lead": [Contact(name="Sam", email="sdl@msp.example")],
        "on_call_engineer": [
            Contact(name="Olu", email="oncall@msp.example", slack_webhook_url="https://s/x")
        ],
        "customer_it_contact": [Contact(name="Shadowed", email="never@msp.example")],
    }
)


def warning(priority: str = "P3", percent: int = 75) -> SlaWarning:
    return SlaWarning(
        clock_id="c1",
        ticket_id="T-9",
        metric="first_response",
        cycle=1,
        priority=priority,
        contract_id="ctr-1",
        contract_version=1,
        threshold_percent=percent,
        escalation_level=1,
        roles_to_inform=["service_desk_lead"],
        due_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        elapsed_business_seconds=60,
        at=datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
    )


def test_a_role_is_the_customers_first_then_the_msps() -> None:
    d = directory_for(
        sample_contract_version(),
        msp=MSP,
        msp_timezone="UTC",
        msp_hours=OFFICE,
        on_call_role="on_call_engineer",
    )
    found = d.recipients(["customer_it_contact", "on_call_engineer", "service_desk_lead"])
    assert [(r.role, r.channel, r.address) for r in found] == [
        ("customer_it_contact", "email", "it@customer.example"),
        ("customer_it_contact", "webhook", "https://hooks.customer.example/msp"),
        ("on_call_engineer", "email", "oncall@msp.example"),
        ("on_call_engineer", "slack", "https://s/x"),
        ("service_desk_lead", "email", "sdl@msp.example"),
    ]
    assert found[2].calendar is None  # on call: never quiet


def test_unknown_roles_reach_nobody() -> None:
    d = directory_for(None, msp=MSP, msp_timezone="UTC", msp_hours=OFFICE, on_call_role="x")
    assert d.recipients(["nobody_here"]) == []


def test_sla_text_names_the_deadline_in_the_customers_time() -> None:
    notice = sla_notice(
        warning(),
        customer_id="cust-7",
        timezone="Asia/Tokyo",
        threshold_percent=75,
        at=warning().at,
    )
    assert notice.lines[1] == "Deadline: 2026-07-01 21:00 JST (Asia/Tokyo)."
    assert notice.kind == "sla_warning" and not notice.urgent
    urgent = sla_notice(
        warning("P2"), customer_id="c", timezone="UTC", threshold_percent=75, at=warning().at
    )
    assert urgent.urgent


def test_non_urgent_notices_wait_for_the_recipients_working_hours() -> None:
    lead = Recipient(
        "service_desk_lead",
        "Sam",
        "email",
        "sdl@msp.example",
        directory_for(
            None, msp=MSP, msp_timezone="America/New_York", msp_hours=OFFICE, on_call_role="x"
        ).msp_calendar,
    )
    late = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)  # Wednesday 19:00 in New York
    notice = sla_notice(warning(), customer_id="c", timezone="UTC", threshold_percent=75, at=late)
    # next working hours: Monday 09:00 EDT (Thursday to Sunday have none)
    assert not_before(notice, lead) == datetime(2026, 7, 6, 13, 0, tzinfo=UTC)
    assert not_before(notice, Recipient("on_call", "O", "email", "o@x.example")) == late
    inside = sla_notice(
        warning(),
        customer_id="c",
        timezone="UTC",
        threshold_percent=75,
        at=datetime(2026, 7, 1, 14, 0, tzinfo=UTC),
    )
    assert not_before(inside, lead) == inside.at
    urgent = sla_notice(
        warning("P1"), customer_id="c", timezone="UTC", threshold_percent=75, at=late
    )
    assert not_before(urgent, lead) == late


@given(
    st.lists(
        st.sampled_from(
            [
                "service_desk_lead",
                "on_call_engineer",
                "customer_it_contact",
                "customer_finance",
                "unknown",
            ]
        )
    )
)
def test_each_person_once_per_channel_whatever_the_roles(roles: list[str]) -> None:
    d = directory_for(
        sample_contract_version(),
        msp=MSP,
        msp_timezone="UTC",
        msp_hours=OFFICE,
        on_call_role="on_call_engineer",
    )
    found = d.recipients(roles)
    pairs = [(r.channel, r.address) for r in found]
    assert len(pairs) == len(set(pairs))
    ids = {delivery_id("e1", c, a) for c, a in pairs}
    assert len(ids) == len(pairs)  # one delivery per (event, recipient, channel)
    assert delivery_id("e1", "email", "a@b.c") == delivery_id("e1", "email", "a@b.c")


def test_a_group_is_one_summary_listing_its_notices() -> None:
    first = {
        "kind": "incident_opened",
        "customer_id": "c1",
        "title": "t0",
        "lines": ["l"],
        "facts": {"site_id": "s1"},
    }
    members = [{**first, "title": f"t{i}"} for i in range(1, 60)]
    shaped = render.shape(first, members)
    assert shaped.count == 60
    assert shaped.title == "60 notices (incident opened) at site s1 (c1)"
    assert shaped.lines[-1] == "... and 10 more."
    assert render.shape(first, []).title == "t0"


def test_slack_and_teams_shapes() -> None:
    message = {"kind": "sla_breach", "customer_id": "c", "title": "x" * 200, "lines": ["a", "b"]}
    slack = render.slack_body(message, [])
    assert slack["blocks"][0]["text"]["text"] == "x" * 150
    assert slack["blocks"][1]["text"]["text"] == "a\nb"
    teams = render.teams_body(message, [])
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert [b["text"] for b in card["content"]["body"]] == ["x" * 200, "a", "b"]


def test_the_signature_covers_timestamp_and_body() -> None:
    sig = render.signature(b"k", "1700000000", b'{"a":1}')
    assert render.verify(b"k", "1700000000", b'{"a":1}', sig)
    assert not render.verify(b"k", "1700000001", b'{"a":1}', sig)
    assert not render.verify(b"k", "1700000000", b'{"a":2}', sig)
    assert not render.verify(b"other", "1700000000", b'{"a":1}', sig)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64


def test_a_moved_escalation_step_is_told_with_both_instants_in_local_time() -> None:
    data = SlaOutcomeCorrected(
        clock_id="clk-1",
        ticket_id="T-9",
        metric="resolution",
        cycle=1,
        priority="P2",
        contract_id="ctr-1",
        contract_version=1,
        corrects_event_id="e150",
        statement="escalation",
        threshold_percent=150,
        was_at=datetime(2026, 4, 14, 15, 0, tzinfo=UTC),
        now_at=datetime(2026, 4, 14, 17, 30, tzinfo=UTC),
        outcome="breached",
        outcome_at=datetime(2026, 4, 14, 16, 0, tzinfo=UTC),
        corrected_at=datetime(2026, 4, 14, 18, 0, tzinfo=UTC),
    )
    notice = correction_notice(data, customer_id="cust-1", timezone="Europe/London")
    assert notice.kind == "sla_correction" and notice.urgent
    assert notice.title == (
        "[P2] Correction: SLA resolution escalation at 150% corrected: ticket T-9 (cust-1)"
    )
    assert notice.lines == (
        "Correction: the resolution SLA escalation at 150% notice for ticket T-9 of customer "
        "cust-1 (P2) happened at 2026-04-14 18:30 BST (Europe/London) "
        "(was: 2026-04-14 16:00 BST (Europe/London)).",
        "The SLA's outcome is now: breached at 2026-04-14 17:00 BST (Europe/London).",
    )
    assert notice.facts["corrects_event_id"] == "e150"
    assert notice.at == data.corrected_at
