"""The month's monitoring storylines: an alert storm from one site, a flapping check,
a maintenance window that swallows alerts, nightly backup failures, and the agents'
month-end check-in. All sent as Alertmanager would send them (`alerts.py`), except
the one-off maintenance window and the check-ins, which are RMM CloudEvents."""

from __future__ import annotations

from datetime import datetime, timedelta

from msp_events.base import Severity
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    CheckKind,
    Heartbeat,
    MaintenanceScheduled,
    MaintenanceScope,
)
from msp_simulator.cast import Cast, weekday_on_or_after
from msp_simulator.script import Script
from msp_simulator.world import Customer, Device, World


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


def alert_storm(s: Script, world: World, cast: Cast, c: Customer) -> None:
    site = max(c.sites, key=lambda x: len(x.devices))
    day = weekday_on_or_after(world.month + timedelta(days=9), 1)  # a Tuesday
    start = c.local(day, 14, 0)
    alerts = [
        firing(
            d,
            "DeviceUnreachable",
            "device_offline",
            start + timedelta(seconds=20 * i),
            "critical",
            f"{d.device_id} is not answering (ICMP, agent)",
        )
        for i, d in enumerate(site.devices)
    ]
    starts = {a.source_fingerprint: a.starts_at for a in alerts}
    # Alertmanager sends the group in notifications as alerts join (group_interval),
    # then re-sends the whole group (repeat_interval): the repeat must add nothing.
    for n, chunk in enumerate((alerts[:5], alerts[5:10], alerts[10:])):
        if chunk:
            s.alertmanager(
                "alert_storm", c.customer_id, chunk[-1].starts_at + timedelta(seconds=5 + n), chunk
            )
    s.alertmanager("alert_storm", c.customer_id, start + timedelta(minutes=10), alerts)
    back = start + timedelta(minutes=95)
    s.alertmanager(
        "alert_storm", c.customer_id, back, [resolved(a, back) for a in alerts], starts=starts
    )
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
        s.alertmanager(
            "flapping_check",
            c.customer_id,
            end,
            [resolved(fired, end)],
            starts={fired.source_fingerprint: fire_at},
        )
    cast.add(
        "flapping_check", customer_id=c.customer_id, device_id=device.device_id, day=day.isoformat()
    )


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
    s.post(
        "maintenance_window", c.customer_id, window, begins - timedelta(hours=30), window.window_id
    )
    down = begins + timedelta(minutes=30)
    alerts = [
        firing(
            d,
            "HostDown",
            "server_down",
            down + timedelta(seconds=i),
            "critical",
            f"{d.device_id} rebooting",
        )
        for i, d in enumerate(site.devices[:3])
    ]
    s.alertmanager("maintenance_window", c.customer_id, down + timedelta(seconds=5), alerts)
    up = down + timedelta(minutes=40)
    s.alertmanager(
        "maintenance_window",
        c.customer_id,
        up,
        [resolved(a, up) for a in alerts],
        starts={a.source_fingerprint: a.starts_at for a in alerts},
    )
    cast.add(
        "maintenance_window",
        customer_id=c.customer_id,
        window_id=window.window_id,
        site_id=site.site_id,
        day=day.isoformat(),
    )


def backup_failures(s: Script, world: World, cast: Cast, customers: list[Customer]) -> None:
    nights = []
    for n, c in enumerate(customers):
        device = next((d for d in c.devices if d.kind == "nas"), c.devices[-1])
        for k in range(2 if n == 0 else 1):
            day = world.month + timedelta(days=5 + 7 * n + k)
            fails = c.local(day, 2, 10)
            alert = firing(
                device,
                "VeeamJobFailed",
                "backup_failure",
                fails,
                "major",
                "Nightly backup job failed",
            )
            alert = alert.model_copy(
                update={"source_fingerprint": f"{alert.source_fingerprint}:{day.isoformat()}"}
            )
            s.alertmanager("backup_failures", c.customer_id, fails, [alert])
            fixed = c.local(day, 5, 30)  # the on-call engineer re-ran the job
            s.alertmanager(
                "backup_failures",
                c.customer_id,
                fixed,
                [resolved(alert, fixed)],
                starts={alert.source_fingerprint: fails},
            )
            nights.append(f"{c.customer_id}@{day.isoformat()}")
    cast.add("backup_failures", nights=" ".join(nights))


def month_end_checkin(s: Script, world: World, cast: Cast) -> None:
    # One agent check-in per customer in the month's last minutes moves every
    # customer's triage clock to the month end, so quiet incidents resolve.
    for c in world.customers:
        at = c.local(world.days[-1], 23, 55)
        device = c.devices[0]
        beat = Heartbeat(
            device_id=device.device_id,
            site_id=device.site_id,
            agent="rmm-agent/5.9.1",
            interval_seconds=7 * 24 * 3600,
            sent_at=at,
        )
        s.post("month_end_checkin", c.customer_id, beat, at, device.device_id)
    cast.add("month_end_checkin", at="23:55 local on the last day")
