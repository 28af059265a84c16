"""Playing a `Month` into a running system through ingest's HTTP API, in event-time
order, one simulated day at a time (see `catchup.py` for why it waits per day).

CloudEvents go to `/v1/events` in batches (consecutive posts of a day, up to
`BATCH_EVENTS`); Alertmanager notifications go one by one to
`/v1/integrations/alertmanager`. 429 and 503 answers are retried (ingest accepted
nothing); any other refusal is a bug in the simulator and stops the run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from msp_simulator import catchup
from msp_simulator.keys import Keys
from msp_simulator.scenario import Month
from msp_simulator.script import Post

BATCH_EVENTS = 500
RETRIES = 20
BATCH_TYPE = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Services:
    """Base URLs of the four services (only ingest is needed to post)."""

    ingest: str
    incidents: str | None = None
    sla: str | None = None
    billing: str | None = None


@dataclass
class PlayStats:
    posted: int = 0
    published: int = 0
    duplicates: int = 0
    requests: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    unsettled_days: list[str] = field(default_factory=list)
    seconds: float = 0.0


class RejectedError(RuntimeError):
    """Ingest refused a post for a reason retrying will not fix."""


def days_of(posts: Sequence[Post]) -> Iterator[tuple[date, list[Post]]]:
    """Posts grouped by UTC day, in order (the contracts before the month are a day too)."""
    current: date | None = None
    group: list[Post] = []
    for post in posts:
        day = post.at.date()
        if current is not None and day != current:
            yield current, group
            group = []
        current = day
        group.append(post)
    if current is not None:
        yield current, group


def requests_of(posts: Sequence[Post]) -> Iterator[tuple[str, list[Post]]]:
    """Consecutive CloudEvents posts merged into batches; Alertmanager posts alone."""
    batch: list[Post] = []
    size = 0
    for post in posts:
        if post.channel == "alertmanager":
            if batch:
                yield "events", batch
                batch, size = [], 0
            yield "alertmanager", [post]
            continue
        if size + len(post.events) > BATCH_EVENTS and batch:
            yield "events", batch
            batch, size = [], 0
        batch.append(post)
        size += len(post.events)
    if batch:
        yield "events", batch


def play(
    month: Month,
    *,
    services: Services,
    keys: Keys,
    progress: Callable[[str], None] = print,
    settle: bool = True,
    client: httpx.Client | None = None,
) -> PlayStats:
    own = client is None
    http = client or httpx.Client(timeout=60)
    stats = PlayStats()
    watched = [u for u in (services.incidents, services.sla, services.billing) if u]
    started = time.monotonic()
    try:
        for day, posts in days_of(month.posts):
            before = catchup.snapshot(http, watched) if settle and watched else {}
            expected: Counter[str] = Counter()
            for channel, group in requests_of(posts):
                answer = _send(http, services.ingest, keys, channel, group)
                published = set(answer.get("published", []))
                stats.requests += 1
                stats.published += len(published)
                stats.duplicates += len(answer.get("duplicates", []))
                for post in group:
                    stats.posted += len(post.events)
                    stats.by_channel[channel] += len(post.events)
                _expect(expected, services, channel, group, published)
            if settle and watched and not catchup.wait_settled(http, expected, baseline=before):
                stats.unsettled_days.append(day.isoformat())
                progress(f"  warning: services still busy after {day}; carrying on")
            progress(_day_line(day, posts, stats))
    finally:
        if own:
            http.close()
    stats.seconds = time.monotonic() - started
    return stats


def _expect(
    expected: Counter[str],
    services: Services,
    channel: str,
    group: list[Post],
    published: set[str],
) -> None:
    """How many more records each service must handle for the events just published."""
    for post in group:
        for event in post.events:
            new = (event.id in published) if channel == "events" else bool(published)
            if not new:
                continue
            domain = event.type.split(".")[1]
            if services.sla and domain in ("ticket", "contract"):
                expected[services.sla] += 1
            if services.billing and domain in ("ticket", "contract", "change_order"):
                expected[services.billing] += 1
            # billing also reads the monitoring topic (devices and users seen)
            if services.billing and channel == "events" and domain in ("monitoring", "inventory"):
                expected[services.billing] += 1
            if services.incidents and event.type.startswith("msp.monitoring.alert_"):
                expected[services.incidents] += 1
    # alerts of a partly duplicate notification: only a lower bound is known
    for url in (services.sla, services.billing, services.incidents):
        if url:
            expected.setdefault(url, 0)


def _send(
    http: httpx.Client, ingest: str, keys: Keys, channel: str, group: list[Post]
) -> dict[str, Any]:
    if channel == "alertmanager":
        url, key, content_type = (
            f"{ingest}/v1/integrations/alertmanager",
            keys.alertmanager,
            "application/json",
        )
        body: Any = group[0].body()
    else:
        url, key, content_type = f"{ingest}/v1/events", keys.events, BATCH_TYPE
        body = [item for post in group for item in post.body()]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    content = httpx.Request("POST", url, json=body).content
    for attempt in range(RETRIES):
        try:
            resp = http.post(url, content=content, headers=headers)
        except httpx.TransportError as exc:
            if attempt == RETRIES - 1:
                raise
            _pause(1.0, f"ingest unreachable ({exc!r})")
            continue
        if resp.status_code == 202:
            answer: dict[str, Any] = resp.json()
            return answer
        if resp.status_code in (429, 503):
            _pause(float(resp.headers.get("Retry-After", "1")), f"ingest {resp.status_code}")
            continue
        raise RejectedError(f"ingest answered {resp.status_code} to {url}: {resp.text[:2000]}")
    raise RejectedError(f"ingest kept refusing {url} after {RETRIES} attempts")


def _pause(seconds: float, why: str) -> None:
    del why  # the caller's loop reports nothing per retry: retries are routine here
    time.sleep(min(seconds, 5.0))  # back off as ingest asked (Retry-After)


def _day_line(day: date, posts: list[Post], stats: PlayStats) -> str:
    alerts = sum(len(p.events) for p in posts if p.channel == "alertmanager")
    events = sum(len(p.events) for p in posts) - alerts
    stories = sorted({p.story for p in posts} - {"customer_tickets", "alert_noise"})
    extra = f"  [{', '.join(stories)}]" if stories else ""
    return (
        f"  {day}  {events:>4} events {alerts:>3} alerts  "
        f"(total {stats.posted}, {stats.duplicates} duplicates){extra}"
    )


def month_end(month: Month) -> datetime:
    """An instant after the period ended in every time zone: the invoice run's `as_of`."""
    return month.world.end + timedelta(days=1)
