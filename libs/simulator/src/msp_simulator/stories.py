"""The month's named work storylines: contracts first, then tickets that each show one
rule (waiting on the customer pauses the SLA, a vendor RMA is warranty work, a project
under an approved change order is billed up to its budget (the rest is held), one
without is scope creep, covered work beyond a block-hours allowance is overage, after-hours
on-demand work costs more, a contract amended mid-month is prorated). Each is cast on
one customer so a reader can look it up (`Cast`). Monitoring storylines are in
`outages.py`, routine traffic in `workload.py`."""

from __future__ import annotations

from datetime import timedelta

from msp_events.types.change_orders import ChangeOrderApproved
from msp_events.types.contracts import ContractSnapshot
from msp_simulator.cast import Cast, weekday_on_or_after
from msp_simulator.script import Script
from msp_simulator.tickets import Ticket
from msp_simulator.world import BLOCK_HOURS, Customer, World, amended


def contracts(s: Script, world: World, cast: Cast) -> None:
    # Published two days before the month so every service knows every customer
    # before the first alert (alerts of an unknown customer wait in incidents).
    at = world.start - timedelta(days=2)
    for c in world.customers:
        data = ContractSnapshot(contract_id=f"ctr-{c.customer_id}", versions=list(c.contract))
        s.post("contracts", c.customer_id, data, at, "v1")
    cast.add("contracts", customers=str(len(world.customers)))


def waiting_on_customer(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=2), 0)  # a Monday
    t = Ticket(s, "waiting_on_customer", c.customer_id, f"{c.customer_id}-WAIT")
    t.open(
        c.local(day, 9, 15),
        title="Outlook keeps asking for my password",
        priority="P3",
        category="help_desk",
        source="email",
    )
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
    t.open(
        c.local(day, 10, 0),
        title=f"RAID disk failed on {server.device_id}",
        priority="P2",
        category="hardware",
        source="portal",
        device_id=server.device_id,
    )
    t.reply(c.local(day, 10, 20), "Disk confirmed failed; RMA opened with the vendor.")
    rma = f"RMA-{world.seed}-{c.customer_id}"
    t.work(
        c.local(day, 10, 5),
        45,
        "hardware",
        "Diagnosed the failed disk, opened the RMA",
        warranty_claim_ref=rma,
        asset_id=server.device_id,
    )
    t.status(c.local(day, 11, 0), "pending_vendor", "waiting for the replacement disk")
    back = day + timedelta(days=2)
    t.status(c.local(back, 9, 30), "in_progress", "replacement disk delivered")
    t.work(
        c.local(back, 9, 35),
        60,
        "hardware",
        "Swapped the disk, rebuilt the array",
        warranty_claim_ref=rma,
        asset_id=server.device_id,
    )
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
        budget_minutes=600,  # 3 x 240 minutes are logged: the last 2 h are held
        approved_by=f"cfo@{c.customer_id}.example",
        approved_at=c.local(day, 9, 0),
    )
    s.post("project_change_order", c.customer_id, approved, approved.approved_at, co)
    t = Ticket(s, "project_change_order", c.customer_id, ticket_id, technician_id="tech-cho")
    t.open(
        c.local(day, 9, 30),
        title="File server migration to SharePoint",
        priority="P4",
        category="migration",
        source="portal",
    )
    t.reply(c.local(day, 10, 0), "Scheduled for next week under the approved change order.")
    for k in range(3):
        work_day = day + timedelta(days=7 + k)
        t.work(
            c.local(work_day, 9, 0), 240, "migration", f"Migration day {k + 1}", change_order_id=co
        )
    t.resolve(c.local(day + timedelta(days=9), 16, 0), "completed")
    cast.add(
        "project_change_order",
        customer_id=c.customer_id,
        ticket_id=ticket_id,
        change_order_id=co,
        budget="600 min, 720 logged",
    )


def included_hours(s: Script, world: World, cast: Cast, c: Customer) -> None:
    """Three onboarding days of covered help-desk work for the block-hours customer
    (`world.with_included_hours`): with its routine tickets, more than its allowance,
    so the invoice run bills the rest as overage."""
    day = weekday_on_or_after(world.month + timedelta(days=8), 0)
    for k in range(3):
        work_day = day + timedelta(days=k)
        ticket_id = f"{c.customer_id}-ONB{k + 1}"
        t = Ticket(s, "included_hours", c.customer_id, ticket_id, technician_id="tech-eli")
        t.open(
            c.local(work_day, 8, 30),
            title=f"Onboard new starter {k + 1}: account, laptop, training",
            priority="P4",
            category="help_desk",
            source="portal",
        )
        t.reply(c.local(work_day, 8, 45), "Booked for this morning.")
        t.work(c.local(work_day, 9, 0), 120, "help_desk", "Account, laptop build, walkthrough")
        t.resolve(c.local(work_day, 11, 30))
    cast.add(
        "included_hours",
        customer_id=c.customer_id,
        tickets=f"{c.customer_id}-ONB1..3",
        included=f"{BLOCK_HOURS} h/month",
    )


def scope_creep(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=19), 3)
    t = Ticket(s, "scope_creep", c.customer_id, f"{c.customer_id}-CREEP", technician_id="tech-cho")
    t.open(
        c.local(day, 11, 0),
        title="Could you also install the new Wi-Fi access points?",
        priority="P4",
        category="installation",
        source="phone",
    )
    t.reply(c.local(day, 11, 30), "On it.")
    t.work(c.local(day, 13, 0), 180, "installation", "Mounted and configured 4 access points")
    t.work(c.local(day + timedelta(days=1), 9, 0), 120, "installation", "Site survey and tuning")
    t.resolve(c.local(day + timedelta(days=1), 11, 30))
    cast.add("scope_creep", customer_id=c.customer_id, ticket_id=t.ticket_id)


def after_hours(s: Script, world: World, cast: Cast, c: Customer) -> None:
    day = weekday_on_or_after(world.month + timedelta(days=13), 5)  # a Saturday
    t = Ticket(s, "after_hours", c.customer_id, f"{c.customer_id}-NIGHT", technician_id="tech-dev")
    t.open(
        c.local(day, 21, 30),
        title="Server down, payroll runs tomorrow",
        priority="P2",
        category="server",
        source="phone",
    )
    t.reply(c.local(day, 21, 40), "Engineer dialling in now.")
    t.work(c.local(day, 21, 45), 95, "server", "Restored the payroll server from snapshot")
    t.resolve(c.local(day, 23, 30))
    evening = day + timedelta(days=3)
    t2 = Ticket(s, "after_hours", c.customer_id, f"{c.customer_id}-EVE", technician_id="tech-dev")
    t2.open(
        c.local(evening, 18, 40),
        title="Printer queue stuck before a deadline",
        priority="P3",
        category="help_desk",
        source="phone",
    )
    t2.reply(c.local(evening, 18, 50), "Looking at it remotely.")
    t2.work(c.local(evening, 19, 0), 40, "help_desk", "Cleared the spooler, reinstalled driver")
    t2.resolve(c.local(evening, 19, 45))
    cast.add("after_hours", customer_id=c.customer_id, ticket_ids=f"{t.ticket_id} {t2.ticket_id}")


def contract_amendment(s: Script, world: World, cast: Cast, c: Customer) -> None:
    effective = c.local(world.month + timedelta(days=14), 0, 0)
    versions = [c.contract[0], amended(c.contract[0], effective=effective)]
    data = ContractSnapshot(contract_id=f"ctr-{c.customer_id}", versions=versions)
    s.post("contract_amendment", c.customer_id, data, effective - timedelta(days=1, hours=8), "v2")
    cast.add("contract_amendment", customer_id=c.customer_id, effective_from=effective.isoformat())
