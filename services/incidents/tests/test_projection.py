"""The projection on the real Postgres: one batch mixing set-based attachments with an
update written one by one must leave the incident as the events say, in order (devices
in the order they came, the latest title, the raised impact)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import pytest
from incidents_factory import t

from incidents.consumers import project_incidents
from msp_devstack.testing import new_namespace
from msp_events import Envelope, make_event
from msp_events.types.incidents import IncidentOpened, IncidentUpdated
from msp_plumbing.consumer import Tx
from msp_plumbing.migrations import migrate

pytestmark = pytest.mark.integration

INC = "inc-proj-1"


def _event(data: Any, at: datetime, n: int) -> Envelope:
    return make_event(
        data, customer_id="proj-co", source="/incidents", time=at, subject=INC, id=f"ev-{n}"
    )


def _attached(n: int, device: str | None, title: str | None = None, **extra: Any) -> Envelope:
    update = IncidentUpdated(
        incident_id=INC,
        alerts_attached=[f"fp-{n}"],
        devices_attached=[device] if device else [],
        title=title,
        reason=f"correlated: device_offline on {device}",
        updated_at=t(n),
        **extra,
    )
    return _event(update, t(n), n)


async def test_mixed_batch_keeps_device_order_latest_title_and_raised_impact(
    database_url: str,
) -> None:
    schema = new_namespace().strip("_")
    await migrate(database_url, schema=schema, package="incidents")
    opened = IncidentOpened(
        incident_id=INC,
        title="device offline on d0: down",
        priority="P3",
        impact="medium",
        urgency="medium",
        scope="device",
        site_id="s",
        device_ids=["d0"],
        alert_fingerprints=["fp-0"],
        check_kind="device_offline",
        priority_reason="impact medium x urgency medium = P3",
        tier="managed",
        opened_at=t(0),
    )
    batch = [
        _event(opened, t(0), 0),
        _attached(1, "d1", "Site s unreachable (2 devices offline)"),  # set-based
        _attached(2, "d2", "Site s unreachable (3 devices offline)"),  # set-based
        # one by one; the two above must be written before it, or their older title wins
        _attached(
            3,
            "d3",
            "Site s unreachable (4 devices offline)",
            scope="site",
            impact="high",
            priority="P2",
            previous_priority="P3",
        ),
        _attached(4, "d1"),  # a device already listed: not listed twice
        _attached(5, "d5", "Site s unreachable (5 devices offline)"),
    ]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            await project_incidents(Tx(conn=conn, namespace=""), batch)
        row = await conn.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", INC)
        alerts = await conn.fetchval(
            "SELECT count(*) FROM incident_alerts WHERE incident_id = $1", INC
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["device_ids"] == ["d0", "d1", "d2", "d3", "d5"]
    assert row["title"] == "Site s unreachable (5 devices offline)"
    assert (row["scope"], row["impact"], row["urgency"], row["priority"]) == (
        "site",
        "high",
        "medium",
        "P2",
    )
    assert row["updated_at"] == t(5)
    assert alerts == 6
