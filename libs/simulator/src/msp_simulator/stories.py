"""The month's named storylines: each is one thing an MSP month always has, placed on
one customer so a reader can look it up (`Cast` says where). Routine traffic (tickets
and alert noise on every customer) is in `workload.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from msp_events.base import Severity
from msp_events.types.change_orders import ChangeOrderApproved
from msp_events.types.contracts import ContractSnapshot, ContractVersion, FlatFee
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    CheckKind,
    Heartbeat,
    MaintenanceScheduled,
    MaintenanceScope,
)
from msp_simulator.script import Script
from msp_simulator.tickets import Ticket
from msp_simulator.world import Customer, Device, World

STORIES: tuple[str, ...] = (
    "contracts",
    "alert_storm",
    "flapping_check",
    "maintenance_window",
    "backup_failures",
    "customer_tickets",
    "waiting_on_customer",
    "vendor_rma",
    "project_change_order",
    "scope_creep",
    "after_hours",
    "contract_amendment",
    "alert_noise",
    "month_end_checkin",
)
"""Every storyline of the month, in the order the README describes them."""


@dataclass
class Cast:
    """Who plays which storyline: story -> {customer_id, ticket_id, ...}."""

    roles: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, story: str, **facts: str) -> None:
        self.roles[story] = facts


def weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def firing(
    device: Device, check: str, kind: CheckKind, at: datetime, severity: Severity, summary: str
) -> AlertFiring:
    return AlertFiring(
        source_system="alertmanager",
        source_fingerprint=f"{device.device_id}:{check}",
        device_id=device.device_id,
        site_id=device.site_id,
        check=check,
        check_kind=kind,
        severity=severity,
        summary=summary,
        starts_at=at,
    )


def resolved(alert: AlertFiring, at: datetime) -> AlertResolved:
    return AlertResolved(
        source_system=alert.source_system,
        source_fingerprint=alert.source_fingerprint,
        device_id=alert.device_id,
        site_id=alert.site_id,
        check=alert.check,
        check_kind=alert.check_kind,
        ends_at=at,
        summary=f"{alert.check} recovered",
    )


def contracts(s: Script, world: World, cast: Cast) -> None:
    # Published two days before the month so every service knows every customer
    # before the first alert (alerts of an unknown customer wait in incidents).
    at = world.start - timedelta(days=2)
    for c in world.customers:
        data = ContractSnapshot(contract_id=f"ctr-{c.customer_id}", versions=list(c.contract))
        s.post("contracts", c.customer_id, data, at, "v1")
    cast.add("contracts", customers=str(len(world.customers)))


def alert_storm(s: Script, world: World, cast: Cast, c: Customer) -> None:
    site = max(c.sites, key=lambda x: len(x.devices))
    day = weekday_on_or_after(world.month + timedelta(days=9), 1)  # a Tuesday
    start = c.local(day, 14, 0)
    alerts = [
        firing(d, "DeviceUnreachable", "device_offline", start + timedelta(seconds=20 * i), "critical", f"{d.device_id} is not answering (ICMP, agent)")  # noqa: E501
        for i, d in enumerate(site.devices)
    ]
    starts = {a.source_fingerprint: a.starts_at for a in alerts}
    # Alertmanager sends the group in notifications as alerts join (group_interval),
    # then re-sends the whole group (repeat_interval): the repeat must add nothing.
    for n, chunk in enumerate((alerts[:5], alerts[5:10], alerts[10:])):
        if chunk:
            s.alertmanager("alert_storm", c.customer_id, chunk[-1].starts_at + timedelta(seconds=5 + n), chunk)  # noqa: E501
    s.alertmanager("alert_storm", c.customer_id, start + timedelta(minutes=10), alerts)
    back = start + timedelta(minutes=95)
    s.alertmanager("alert_storm", c.customer_id, back, [resolved(a, back) for a in alerts], starts=starts)  # noqa: E501
    cast.add(
        "alert_storm",
        customer_id=c.customer_id,
        site_id=site.site_id,
        devices=str(len(site.devices)),
        day=day.isoformat(),
    )


def flapping_check(s: Script, world: World, cast: Cast, c: Customer) -> None:
    device = c.devices[0]
    day = weekday_on_or_after(world.month + timedelta(days=4), 2)  # a Wednesday
    t = c.local(day, 10, 0)
    alert = firing(device, "IISAppPoolDown", "service_down", t, "major", "IIS app pool stopped")
    # fire/resolve every 90 s: more than 4 state changes in 10 minutes is flapping
    for i in range(4):
        fire_at = t + timedelta(seconds=180 * i)
        fired = alert.model_copy(update={"starts_at": fire_at})
        s.alertmanager("flapping_check", c.customer_id, fire_at, [fired])
        end = fire_at + timedelta(seconds=90)
        s.alertmanager("flapping_check", c.customer_id, end, [resolved(fired, end)], starts={fired.source_fingerprint: fire_at})  # noqa: E501
    cast.add("flapping_check", customer_id=c.customer_id, device_id=device.device_id, day=day.isoformat())  # noqa: E501


def maintenance_window(s: Script, world: World, cast: Cast, c: Customer) -> None:
    site = c.sites[0]
    day = weekday_on_or_after(world.month + timedelta(days=11), 3)  # a Thursday night
    begins, ends = c.local(day, 22, 0), c.local(day, 22, 0) + timedelta(hours=4)
    window = MaintenanceScheduled(
        window_id=f"mw-{c.customer_id}-firmware",
        starts_at=begins,
        ends_at=ends,
        scope=MaintenanceScope(site_ids=[site.site_id]),
        reason="Firewall and switch firmware upgrade",
        scheduled_by="tech-ben",
    )
    s.post("maintenance_window", c.customer_id, window, begins - timedelta(hours=30), window.window_id)  # noqa: E501
    down = begins + timedelta(minutes=30)
    alerts = [
        firing(d, "HostDown", "server_down", down + timedelta(seconds=i), "critical", f"{d.device_id} rebooting")  # noqa: E501
        for i, d in enumerate(site.devices[:3])
    ]
    s.alertmanager("maintenance_window", c.customer_id, down + timedelta(seconds=5), alerts)
    up = down + timedelta(minutes=40)
    s.alertmanager("maintenance_window", c.customer_id, up, [resolved(a, up) for a in alerts], starts={a.source_fingerprint: a.starts_at for a in alerts})  # noqa: E501
    cast.add("maintenance_window", customer_id=c.customer_id, window_id=window.window_id, site_id=site.site_id, day=day.isoformat())  # noqa: E501


def backup_failures(s: Script, world: World, cast: Cast, customers: list[Customer]) -> None:
    nights = []
    for n, c in enumerate(customers):
        device = next((d for d in c.devices if d.kind == "nas"), c.devices[-1])
        for k in range(2 if n == 0 else 1):
            day = world.month + timedelta(days=5 + 7 * n + k)
            fails = c.local(day, 2, 10)
            alert = firing(device, "VeeamJobFailed", "backup_failure", fails, "major", "Nightly backup job failed")  # noqa: E501
            alert = alert.model_copy(update={"source_fingerprint": f"{alert.source_fingerprint}:{day.isoformat()}"})  # noqa: E501
            s.alertmanager("backup_failures", c.customer_id, fails, [alert])
            fixed = c.local(day, 9, 40)
            s.alertmanager("backup_failures", c.customer_id, fixed, [resolved(alert, fixed)], starts={alert.source_fingerprint: fails})  # noqa: E501
            nights.append(f"{c.customer_id}@{day.isoformat()}")
    cast.add("backup_failures", nights=" ".join(nights))


def waiting_on_customer(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=2), 0)  # a Monday
    t = Ticket(s, "waiting_on_customer", c.customer_id, f"{c.customer_id}-WAIT")
    t.open(c.local(day, 9, 15), title="Outlook keeps asking for my password", priority="P3", category="help_desk", source="email")  # noqa: E501
    t.reply(c.local(day, 9, 40), "Which device? Please send a screenshot of the prompt.")
    t.status(c.local(day, 9, 41), "waiting_on_customer", "asked for a screenshot")
    nxt = day + timedelta(days=2)
    t.reply(c.local(nxt, 11, 5), "Here is the screenshot, it is my laptop.", by_customer=True)
    t.status(c.local(nxt, 11, 6), "in_progress", "customer answered")
    t.work(c.local(nxt, 11, 30), 35, "help_desk", "Re-created the Outlook profile")
    t.resolve(c.local(nxt, 12, 10))
    cast.add("waiting_on_customer", customer_id=c.customer_id, ticket_id=t.ticket_id)


def vendor_rma(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=16), 1)
    server = next((d for d in c.devices if d.kind == "srv"), c.devices[0])
    t = Ticket(s, "vendor_rma", c.customer_id, f"{c.customer_id}-RMA", technician_id="tech-ben")
    t.open(c.local(day, 10, 0), title=f"RAID disk failed on {server.device_id}", priority="P2", category="hardware", source="portal", device_id=server.device_id)  # noqa: E501
    t.reply(c.local(day, 10, 20), "Disk confirmed failed; RMA opened with the vendor.")
    rma = f"RMA-{world.seed}-{c.customer_id}"
    t.work(c.local(day, 10, 5), 45, "hardware", "Diagnosed the failed disk, opened the RMA", warranty_claim_ref=rma, asset_id=server.device_id)  # noqa: E501
    t.status(c.local(day, 11, 0), "pending_vendor", "waiting for the replacement disk")
    back = day + timedelta(days=2)
    t.status(c.local(back, 9, 30), "in_progress", "replacement disk delivered")
    t.work(c.local(back, 9, 35), 60, "hardware", "Swapped the disk, rebuilt the array", warranty_claim_ref=rma, asset_id=server.device_id)  # noqa: E501
    t.resolve(c.local(back, 11, 0))
    cast.add("vendor_rma", customer_id=c.customer_id, ticket_id=t.ticket_id, rma=rma)


def project_change_order(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=1), 0)
    ticket_id, co = f"{c.customer_id}-PROJ", f"CO-{c.customer_id}-migration"
    approved = ChangeOrderApproved(
        change_order_id=co,
        ticket_ids=[ticket_id],
        scope="Migrate the file server to SharePoint Online",
        work_categories=["migration"],
        budget_minutes=1200,
        approved_by=f"cfo@{c.customer_id}.example",
        approved_at=c.local(day, 9, 0),
    )
    s.post("project_change_order", c.customer_id, approved, approved.approved_at, co)
    t = Ticket(s, "project_change_order", c.customer_id, ticket_id, technician_id="tech-cho")
    t.open(c.local(day, 9, 30), title="File server migration to SharePoint", priority="P4", category="migration", source="portal")  # noqa: E501
    t.reply(c.local(day, 10, 0), "Scheduled for next week under the approved change order.")
    for k in range(3):
        work_day = day + timedelta(days=7 + k)
        t.work(c.local(work_day, 9, 0), 240, "migration", f"Migration day {k + 1}", change_order_id=co)  # noqa: E501
    t.resolve(c.local(day + timedelta(days=9), 16, 0), "completed")
    cast.add("project_change_order", customer_id=c.customer_id, ticket_id=ticket_id, change_order_id=co)  # noqa: E501


def scope_creep(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=19), 3)
    t = Ticket(s, "scope_creep", c.customer_id, f"{c.customer_id}-CREEP", technician_id="tech-cho")
    t.open(c.local(day, 11, 0), title="Could you also install the new Wi-Fi access points?", priority="P4", category="installation", source="phone")  # noqa: E501
    t.reply(c.local(day, 11, 30), "On it.")
    t.work(c.local(day, 13, 0), 180, "installation", "Mounted and configured 4 access points")
    t.work(c.local(day + timedelta(days=1), 9, 0), 120, "installation", "Site survey and tuning")
    t.resolve(c.local(day + timedelta(days=1), 11, 30))
    cast.add("scope_creep", customer_id=c.customer_id, ticket_id=t.ticket_id)


def after_hours(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=13), 5)  # a Saturday
    t = Ticket(s, "after_hours", c.customer_id, f"{c.customer_id}-NIGHT", technician_id="tech-dev")
    t.open(c.local(day, 21, 30), title="Server down, payroll runs tomorrow", priority="P2", category="server", source="phone")  # noqa: E501
    t.reply(c.local(day, 21, 40), "Engineer dialling in now.")
    t.work(c.local(day, 21, 45), 95, "server", "Restored the payroll server from snapshot")
    t.resolve(c.local(day, 23, 30))
    evening = day + timedelta(days=3)
    t2 = Ticket(s, "after_hours", c.customer_id, f"{c.customer_id}-EVE", technician_id="tech-dev")
    t2.open(c.local(evening, 18, 40), title="Printer queue stuck before a deadline", priority="P3", category="help_desk", source="phone")  # noqa: E501
    t2.reply(c.local(evening, 18, 50), "Looking at it remotely.")
    t2.work(c.local(evening, 19, 0), 40, "help_desk", "Cleared the spooler, reinstalled driver")
    t2.resolve(c.local(evening, 19, 45))
    cast.add("after_hours", customer_id=c.customer_id, ticket_ids=f"{t.ticket_id} {t2.ticket_id}")


def contract_amendment(s: Script, world: World, cast: Cast, c: Customer) -> None:
    first = c.contract[0]
    effective = c.local(world.month + timedelta(days=14), 0, 0)
    assert first.flat_fee is not None and first.flat_fee.unit_price is not None
    added = 8
    fee = FlatFee(model="per_device", unit_price=first.flat_fee.unit_price, devices=(first.flat_fee.devices or 0) + added)  # noqa: E501
    second = ContractVersion.model_validate(
        {
            **first.model_dump(),
            "version": 2,
            "effective_from": effective,
            "flat_fee": fee,
            "covered_categories": [*first.covered_categories, "hardware"],
            "rationale": f"Amendment: {added} more devices after the office move, and hardware "
            "swaps now covered by the flat fee.",
        }
    )
    data = ContractSnapshot(contract_id=f"ctr-{c.customer_id}", versions=[first, second])
    s.post("contract_amendment", c.customer_id, data, effective - timedelta(days=1, hours=8), "v2")  # noqa: E501
    cast.add("contract_amendment", customer_id=c.customer_id, effective_from=effective.isoformat())  # noqa: E501


def month_end_checkin(s: Script, world: World, cast: Cast) -> None:
    # One agent check-in per customer in the month's last minutes moves every
    # customer's triage clock to the month end, so quiet incidents resolve.
    for c in world.customers:
        at = c.local(world.days[-1], 23, 55)
        device = c.devices[0]
        beat = Heartbeat(device_id=device.device_id, site_id=device.site_id, agent="rmm-agent/5.9.1", interval_seconds=7 * 24 * 3600, sent_at=at)  # noqa: E501
        s.post("month_end_checkin", c.customer_id, beat, at, device.device_id)
    cast.add("month_end_checkin", at="23:55 local on the last day")
