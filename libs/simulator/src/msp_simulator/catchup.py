"""Waiting until the services have caught up with what was posted, through their
`/metrics` only: the transactional consumers' records and lag (`msp_consumer_*`) and
the incidents triage counter. "Caught up" = no lag and nothing moved for a while.

Why the player waits at all: the SLA scheduler in event-time mode fires deadlines on
the latest event time it has consumed from *any* partition. If one partition ran a
day ahead of another, a pause posted for the slow one would arrive after its ticket's
deadline had already fired. Waiting per simulated day keeps partitions within a day.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import httpx

COUNTERS = ("msp_consumer_records_total", "msp_incidents_alerts_total")
LAG = "msp_consumer_lag_records"


def progress_of(client: httpx.Client, url: str) -> tuple[float, float]:
    """(records handled so far, records lagging) from one service's /metrics."""
    text = client.get(f"{url}/metrics").text
    done = lag = 0.0
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if metric in COUNTERS:
            done += float(value)
        elif metric == LAG:
            lag += float(value)
    return done, lag


def snapshot(client: httpx.Client, urls: Sequence[str]) -> dict[str, float]:
    """Records handled so far per service URL (0 for one not answering)."""
    found = {}
    for url in urls:
        try:
            found[url] = progress_of(client, url)[0]
        except httpx.HTTPError:
            found[url] = 0.0
    return found


def wait_settled(
    client: httpx.Client,
    expected: Mapping[str, float],
    *,
    baseline: Mapping[str, float] | None = None,
    quiet_s: float = 0.5,
    timeout_s: float = 120.0,
    poll_s: float = 0.1,
) -> bool:
    """Until each service (URL -> records it must handle beyond `baseline`) has handled
    at least that many more, shows no lag, and nothing moved for `quiet_s` (proactive
    tickets and incident events follow the inputs). False after `timeout_s`: the caller
    warns and carries on."""
    base = baseline or {}
    deadline = time.monotonic() + timeout_s
    last: dict[str, float] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            seen = {u: progress_of(client, u) for u in expected}
        except httpx.HTTPError:
            seen = {}
        done = {u: d for u, (d, _) in seen.items()}
        behind = not seen or any(
            lag > 0 or done[u] < base.get(u, 0.0) + expected[u] for u, (_, lag) in seen.items()
        )
        if behind or done != last:
            last, still_since = done, time.monotonic()
        elif time.monotonic() - still_since >= quiet_s:
            return True
        time.sleep(poll_s)  # poll tick of the catch-up wait
    return False
