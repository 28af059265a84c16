"""The events triage builds without validating them again (`outputs.py`, `trusted.py`)
are the validated ones: equal, the same fields set, the same bytes on the wire; and
values the contract refuses are still refused (they take the validated path)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidents.outputs import SOURCE, alerts_attached, incident_opened, proactive_ticket
from incidents.priority import assess, needs_ticket
from incidents.state import Incident
from msp_events import derive_event_id, encode, make_event
from msp_events.base import EventData

IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}", fullmatch=True)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(tzinfo=UTC))
LEVELS = st.sampled_from(["low", "medium", "high"])


def assert_like_validated(built: EventData, customer: str, at: datetime) -> None:
    """`built` equals the payload validated from the same given fields, and wrapped in
    its envelope it encodes to the same bytes."""
    given_fields = {name: getattr(built, name) for name in built.model_fields_set}
    validated = type(built)(**given_fields)
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()
    ids = dict(customer_id=customer, source=SOURCE, time=at, subject="s", id="e-1")
    assert encode(make_event(built, **ids)) == encode(make_event(validated, **ids))


@st.composite
def incidents(draw: st.DrawFn) -> tuple[Incident, str | None]:
    scope = draw(st.sampled_from(["device", "site", "customer"]))
    devices = draw(st.lists(IDS, min_size=1 if scope == "device" else 0, max_size=3))
    site = draw(IDS) if scope == "site" else draw(st.none() | IDS)
    opened = draw(INSTANTS)
    a = assess(
        scope=scope,
        severity=draw(st.sampled_from(["critical", "major", "minor", "warning", "info"])),
        check_kind=draw(st.sampled_from(["device_offline", "backup_failure", "disk_full"])),
        business_critical=draw(st.booleans()),
        tier=draw(st.sampled_from(["on_demand", "managed", "managed_vip"])),
    )
    incident_id = derive_event_id("incident", draw(st.text(max_size=20)))
    inc = Incident(
        incident_id=incident_id,
        ticket_id=derive_event_id("ticket", incident_id) if needs_ticket(a.priority) else None,
        title=draw(st.text(min_size=1, max_size=500)),
        priority=a.priority,
        scope=scope,
        site_id=site,
        device_ids=devices,
        check_kind="device_offline",
        severity="critical",
        tier="managed",
        alerts=draw(st.lists(st.text(min_size=1, max_size=256), min_size=1, max_size=3)),
        opened_at=opened,
        last_attach_at=opened,
    )
    runbook = draw(st.none() | st.text(min_size=1, max_size=2048))
    return inc, runbook


@settings(max_examples=150, deadline=None)
@given(case=incidents(), customer=IDS)
def test_opened_incidents_and_tickets_equal_validated_ones(
    case: tuple[Incident, str | None], customer: str
) -> None:
    inc, runbook = case
    a = assess(
        scope=inc.scope,
        severity=inc.severity,
        check_kind=inc.check_kind,
        business_critical=False,
        tier=inc.tier,
    )
    opened = incident_opened(inc, a, runbook)
    assert_like_validated(opened, customer, inc.opened_at)
    inc.device_ids.append("grown-later")  # the event keeps what it was built with
    assert "grown-later" not in opened.device_ids
    ticket = proactive_ticket(inc, derive_event_id("ticket", inc.incident_id), a, runbook)
    assert_like_validated(ticket, customer, inc.opened_at)


@settings(max_examples=150, deadline=None)
@given(
    raised=st.booleans(),
    attached=st.lists(st.text(min_size=1, max_size=256), max_size=2),
    reason=st.text(min_size=1, max_size=1000),
    at=INSTANTS,
    scope=st.none() | st.sampled_from(["device", "site", "customer"]),
    title=st.none() | st.text(min_size=1, max_size=500),
    devices=st.lists(IDS, max_size=2),
    impact=st.none() | LEVELS,
    urgency=st.none() | LEVELS,
    customer=IDS,
)
def test_attachments_equal_validated_ones(
    raised: bool,
    attached: list[str],
    reason: str,
    at: datetime,
    scope: str | None,
    title: str | None,
    devices: list[str],
    impact: str | None,
    urgency: str | None,
    customer: str,
) -> None:
    if not (raised or attached):
        attached = ["fp-1"]  # an update changes something (`reassess` returns before)
    update = alerts_attached(
        incident_id=derive_event_id("incident", customer),
        priority="P1" if raised else None,
        previous_priority="P3" if raised else None,
        alerts_attached=attached,
        reason=reason,
        updated_at=at,
        scope=scope,
        title=title,
        devices_attached=devices,
        impact=impact,
        urgency=urgency,
    )
    assert_like_validated(update, customer, at)


def test_values_the_contract_refuses_are_still_refused() -> None:
    """Outside the guard (a title too long, an instant past the window, not in UTC)
    the payload is validated: refused, or normalised to UTC like any input."""
    at = datetime(2026, 3, 10, 14, tzinfo=UTC)
    common = dict(
        incident_id="inc-1",
        priority=None,
        previous_priority=None,
        alerts_attached=["fp-1"],
        reason="correlated",
        scope=None,
        devices_attached=[],
        impact=None,
        urgency=None,
    )
    with pytest.raises(ValueError, match="title"):
        alerts_attached(**common, updated_at=at, title="x" * 501)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="updated_at"):
        alerts_attached(  # type: ignore[arg-type]
            **common, updated_at=datetime(2100, 1, 1, tzinfo=UTC), title=None
        )
    local = at.astimezone(ZoneInfo("Europe/Paris"))
    update = alerts_attached(**common, updated_at=local, title=None)  # type: ignore[arg-type]
    assert update.updated_at == at and update.updated_at.tzinfo is UTC
