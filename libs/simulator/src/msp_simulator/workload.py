"""Routine traffic on every customer: tickets reported by users, and the monitoring
noise a month brings (disk space, CPU, memory warnings that clear on their own).
Drawn from a seeded random generator, so the same seed gives the same month."""

from __future__ import annotations

import random
from datetime import timedelta

from msp_events.base import Priority
from msp_events.types.monitoring import CheckKind
from msp_events.types.tickets import TicketSource
from msp_simulator.cast import Cast
from msp_simulator.outages import firing, resolved
from msp_simulator.script import Script
from msp_simulator.tickets import Ticket
from msp_simulator.world import World

PROBLEMS: tuple[tuple[str, str, Priority], ...] = (
    ("Cannot print to the office printer", "help_desk", "P4"),
    ("New starter needs an account and laptop", "help_desk", "P3"),
    ("VPN drops every few minutes", "help_desk", "P3"),
    ("Shared drive is very slow", "help_desk", "P3"),
    ("Phishing email reported by staff", "security", "P2"),
    ("Please install this month's patches early", "patching", "P4"),
    ("Restore a deleted folder from backup", "backup", "P3"),
    ("Email not arriving for one mailbox", "help_desk", "P2"),
)
SOURCES: tuple[TicketSource, ...] = ("phone", "email", "portal", "chat")
NOISE: tuple[tuple[str, CheckKind, str], ...] = (
    ("DiskSpaceLow", "disk_space", "Disk C: below 10 % free"),
    ("HighCPU", "cpu", "CPU above 95 % for 15 minutes"),
    ("MemoryPressure", "memory", "Memory above 90 %"),
)
TECHS = ("tech-ana", "tech-ben", "tech-cho", "tech-dev", "tech-eli")


def customer_tickets(s: Script, world: World, cast: Cast, *, per_customer: int = 5) -> None:
    rng = random.Random(f"tickets:{world.seed}")
    workdays = [d for d in world.days[:-3] if d.weekday() < 5]  # closed inside the month
    total = 0
    for c in world.customers:
        for n in range(rng.randint(per_customer - 2, per_customer + 2)):
            title, category, priority = rng.choice(PROBLEMS)
            day = rng.choice(workdays)
            opened = c.local(day, rng.randint(8, 15), rng.randrange(0, 60, 5))
            t = Ticket(
                s,
                "customer_tickets",
                c.customer_id,
                f"{c.customer_id}-T{n + 1:03d}",
                technician_id=rng.choice(TECHS),
            )
            t.open(
                opened,
                title=title,
                priority=priority,
                category=category,
                source=rng.choice(SOURCES),
            )
            # most first replies are quick; a few slip past the target (real months do)
            reply = opened + timedelta(minutes=rng.choice((5, 10, 12, 20, 25, 40, 90)))
            t.reply(reply, "Thanks, looking into it now.")
            minutes = rng.choice((15, 20, 30, 45, 60, 90))
            t.work(reply + timedelta(minutes=5), minutes, category, f"Worked on: {title}")
            t.resolve(reply + timedelta(minutes=5 + minutes + rng.randint(5, 240)))
            total += 1
    cast.add("customer_tickets", tickets=str(total))


def alert_noise(s: Script, world: World, cast: Cast, *, per_customer: int = 3) -> None:
    rng = random.Random(f"noise:{world.seed}")
    total = 0
    for c in world.customers:
        for n in range(rng.randint(1, per_customer)):
            device = rng.choice(c.devices)
            check, kind, summary = rng.choice(NOISE)
            day = rng.choice(world.days[:-1])
            at = c.local(day, rng.randint(0, 23), rng.randrange(0, 60, 5))
            alert = firing(device, check, kind, at, "warning", summary)
            alert = alert.model_copy(
                update={"source_fingerprint": f"{alert.source_fingerprint}:{n}"}
            )
            s.alertmanager("alert_noise", c.customer_id, at, [alert])
            clears = at + timedelta(minutes=rng.randint(6, 50))
            s.alertmanager(
                "alert_noise",
                c.customer_id,
                clears,
                [resolved(alert, clears)],
                starts={alert.source_fingerprint: at},
            )
            total += 1
    cast.add("alert_noise", alerts=str(total))
