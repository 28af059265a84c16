"""End-to-end benchmark: Alertmanager webhooks of new alerts, open loop at rising rates,
through the whole running system, measured from accepted (ingest answered 202) to
triaged (incidents published the alert's outcome on `msp.incidents.v1`).

The system is real processes: a broker and Postgres (`bench.common.infrastructure`:
local ones, or KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), the five services of
`msp_devstack.fleet.Fleet` on wall-clock time (as in production), and a customer world
of `--customers` managed contracts (24x7 monitoring), posted through ingest first.

The load: every request is an Alertmanager webhook (payload version 4) of 100 firing
alerts of one customer (customers in turn), each alert a new fingerprint and a new
device, 10 alerts per site and every request on sites of its own, the sites' check kinds
in turn (one in five `device_offline`, which widens to "site unreachable"). So every
alert is triaged as new, every site opens one incident with a proactive ticket, and the
ticket starts an SLA clock: 100 alerts make 10 incidents, 10 tickets, 10 clocks.
Requests go out on schedule whatever the answers (open loop); a request that cannot go
out because `--max-in-flight` are still unanswered counts as failed.

"Triaged" is the alert's fingerprint in an `IncidentOpened.alert_fingerprints` or an
`IncidentUpdated.alerts_attached` on the incidents topic: what a consumer of triage sees,
after the triage transaction committed and the outbox relay published it. Its time is
the record's timestamp (CreateTime: the relay's producer stamps the wall clock), so a
slow reader in this process does not add to the lag. The lag of an alert still
untriaged when its step is judged is counted as the time it has waited so far (a lower
bound).

Each step sends at one rate for `--step-s`, then waits (up to `--drain-s`) until every
alert of the step is triaged, and is judged (`judge_step`): it passes when every request
was answered 202, the triaged rate is at least 95 % of the offered rate, p99 accepted ->
triaged is at most 2 s and the backlog (accepted, not yet triaged) did not keep growing
over the step's second half. Stepping stops at the first failed step.
`e2e_sustained_alerts_per_s` is the highest passing step's offered rate.

CPU per component over each step's sending window (process CPU time of each service
and its children, the broker, Postgres, this process = the load generator and the
triage reader, and the whole machine) as cores and as microseconds per accepted alert.

Run: `make bench-e2e` (writes bench/results/e2e.json); `python -m bench.e2e --quick`
for a short run (prints, writes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import (
    infrastructure,
    listener_pid,
    machine,
    port_of,
    server_version,
    write_results,
)
from msp_devstack.drill import post_contracts
from msp_devstack.fleet import Fleet
from msp_events.topics import PARTITIONS

ALERTS_PER_REQUEST = 100
ALERTS_PER_SITE = 10
CHECK_KINDS = ("device_offline", "disk_space", "service_down", "cpu", "memory")
"""The sites' check kinds, in turn."""
P99_LIMIT_S = 2.0
TRIAGED_SHARE = 0.95
"""A step keeps up when its triaged rate is at least this share of the offered rate."""
BACKLOG_GROWTH_S = 0.5
"""The backlog kept growing when, over the step's second half (its least-squares line),
it rose by more than this many seconds of the offered rate (and by more than two
requests' alerts): the lag itself rising by that much, beyond the batchiness of 100
alerts per request."""
TRIAGE_ALLOWANCE_S = P99_LIMIT_S
"""The triaged rate counts the step's alerts triaged by the step's end + this."""
IDLE_S = 5.0
"""Seconds of the idle baseline, measured after the warm-up."""
COMPONENTS = ("ingest", "incidents", "sla-clock", "billing", "notify")
FULL_RATES = (250, 500, 1000, 1500, 2000, 2500, 3000)
QUICK_RATES = (250, 500, 1000)


# -- the pure part: judging a step, choosing the sustained rate -----------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank, 0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def backlog_series(
    accepted_at: Iterable[float],
    triaged_at: Iterable[float | None],
    *,
    start: float,
    end: float,
    every_s: float = 1.0,
) -> list[tuple[float, int]]:
    """(t, alerts accepted by t but not triaged by t) every `every_s` from `start` to
    `end`, for the alerts of one step (`triaged_at[i]` None: not triaged)."""
    acc = sorted(accepted_at)
    tri = sorted(t for t in triaged_at if t is not None)
    samples: list[tuple[float, int]] = []
    a = b = 0
    t = start
    while t <= end + 1e-9:
        while a < len(acc) and acc[a] <= t:
            a += 1
        while b < len(tri) and tri[b] <= t:
            b += 1
        samples.append((t, max(0, a - b)))
        t += every_s
    return samples


def slope(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) samples (0 for fewer than two)."""
    if len(samples) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in samples)
    mv = statistics.fmean(v for _, v in samples)
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in samples) / var


@dataclass(frozen=True)
class StepRecord:
    """What one step observed (times in seconds, one clock)."""

    rate: float
    """The nominal offered rate, alerts/s."""
    start: float
    end: float
    """The sending window."""
    judged_at: float
    """When the step was judged (the untriaged alerts' lag runs until then)."""
    offered: int
    """Alerts in requests sent (or due to be sent) in the window."""
    failed_requests: int
    """Requests not answered 202 (other status, error, timeout, or never sent)."""
    accepted_at: list[float]
    """Per accepted alert: when its request was answered 202."""
    triaged_at: list[float | None]
    """Per accepted alert (same order): when it was triaged, None if not yet."""


@dataclass(frozen=True)
class StepVerdict:
    rate: float
    offered_per_s: float
    accepted_per_s: float
    triaged_per_s: float
    lag_p50_s: float
    lag_p99_s: float
    lag_max_s: float
    untriaged: int
    backlog_slope_per_s: float
    backlog_growing: bool
    failed_requests: int
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "pass" if self.passed else "FAIL (" + "; ".join(self.reasons) + ")"
        return (
            f"{self.rate:.0f} alerts/s: offered {self.offered_per_s:.0f}/s, accepted "
            f"{self.accepted_per_s:.0f}/s, triaged {self.triaged_per_s:.0f}/s, lag p50 "
            f"{self.lag_p50_s:.3f} s p99 {self.lag_p99_s:.3f} s max {self.lag_max_s:.3f} s, "
            f"untriaged {self.untriaged}, backlog slope {self.backlog_slope_per_s:.0f}/s: "
            f"{verdict}"
        )


def judge_step(step: StepRecord) -> StepVerdict:
    """Rates, lag percentiles and whether the system kept up with this step (see the
    module docstring for the rules)."""
    duration = step.end - step.start
    lags = [
        max(0.0, (t if t is not None else step.judged_at) - a)
        for a, t in zip(step.accepted_at, step.triaged_at, strict=True)
    ]
    by = step.end + TRIAGE_ALLOWANCE_S
    triaged = sum(1 for t in step.triaged_at if t is not None and t <= by)
    untriaged = sum(1 for t in step.triaged_at if t is None)
    series = backlog_series(
        step.accepted_at, step.triaged_at, start=step.start, end=step.end, every_s=0.25
    )
    half = [s for s in series if s[0] >= step.start + duration / 2]
    growth = slope(half)
    offered_per_s = step.offered / duration
    rise = growth * duration / 2
    tolerated = max(BACKLOG_GROWTH_S * offered_per_s, 2.0 * ALERTS_PER_REQUEST)
    verdict = StepVerdict(
        rate=step.rate,
        offered_per_s=offered_per_s,
        accepted_per_s=len(step.accepted_at) / duration,
        triaged_per_s=triaged / duration,
        lag_p50_s=percentile(lags, 0.50),
        lag_p99_s=percentile(lags, 0.99),
        lag_max_s=max(lags, default=0.0),
        untriaged=untriaged,
        backlog_slope_per_s=growth,
        backlog_growing=rise > tolerated,
        failed_requests=step.failed_requests,
        passed=True,
    )
    reasons = []
    if step.failed_requests:
        reasons.append(f"{step.failed_requests} requests not answered 202")
    if verdict.triaged_per_s < TRIAGED_SHARE * offered_per_s:
        reasons.append(f"triaged {verdict.triaged_per_s:.0f}/s < 95 % of offered")
    if verdict.lag_p99_s > P99_LIMIT_S:
        reasons.append(f"p99 {verdict.lag_p99_s:.2f} s > {P99_LIMIT_S} s")
    if verdict.backlog_growing:
        reasons.append("backlog kept growing")
    if reasons:
        return StepVerdict(**{**verdict.__dict__, "passed": False, "reasons": reasons})
    return verdict


def sustained_rate(verdicts: Sequence[StepVerdict]) -> float:
    """The highest offered rate of the passing steps before the first failed one (steps
    in the order run, rising): 0 when the first step failed."""
    best = 0.0
    for v in verdicts:
        if not v.passed:
            break
        best = max(best, v.rate)
    return best


def step_metrics(v: StepVerdict) -> dict[str, float]:
    """One step's numbers under `step_<rate>_...` (one number per key, unit in the key)."""
    p = f"step_{v.rate:.0f}_"
    return {
        p + "offered_alerts_per_s": round(v.offered_per_s, 1),
        p + "accepted_alerts_per_s": round(v.accepted_per_s, 1),
        p + "triaged_alerts_per_s": round(v.triaged_per_s, 1),
        p + "lag_p50_s": round(v.lag_p50_s, 3),
        p + "lag_p99_s": round(v.lag_p99_s, 3),
        p + "lag_max_s": round(v.lag_max_s, 3),
        p + "untriaged_alerts": float(v.untriaged),
        p + "backlog_slope_alerts_per_s": round(v.backlog_slope_per_s, 1),
        p + "backlog_growing": float(v.backlog_growing),
        p + "failed_requests": float(v.failed_requests),
        p + "passed": float(v.passed),
    }


# -- the load: Alertmanager webhooks of new alerts -------------------------------------


def webhook(
    customer: str,
    fingerprints: Sequence[str],
    starts_at: datetime,
    per_site: int = ALERTS_PER_SITE,
) -> bytes:
    """An Alertmanager webhook (payload version 4) firing `fingerprints` for `customer`,
    `per_site` alerts per site (the site named after its first alert), each alert on
    its own device, the sites' check kinds in turn."""
    starts = starts_at.isoformat().replace("+00:00", "Z")
    alerts = []
    for i, fp in enumerate(fingerprints):
        site = f"site-{fingerprints[i - i % per_site]}"
        kind = CHECK_KINDS[(i // per_site) % len(CHECK_KINDS)]
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": kind,
                    "customer": customer,
                    "instance": f"dev-{fp}",
                    "site": site,
                    "severity": "critical" if kind == "device_offline" else "warning",
                    "check_kind": kind,
                },
                "annotations": {"summary": f"{kind} on dev-{fp}"},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph?g0.expr=up",
                "fingerprint": fp,
            }
        )
    body = {
        "receiver": "msp-ingest",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"customer": customer},
        "commonLabels": {"customer": customer},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "version": "4",
        "groupKey": f'{{}}:{{customer="{customer}"}}',
        "truncatedAlerts": 0,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Ledger:
    """Every alert of the run by serial number (its fingerprint is `prefix` + serial):
    when it was accepted and when triaged (wall-clock seconds)."""

    prefix: str
    accepted_at: dict[int, float] = field(default_factory=dict)
    triaged_at: dict[int, float] = field(default_factory=dict)
    implausible: int = 0
    """Triage records stamped before their alert was accepted by more than a second."""

    def fingerprint(self, serial: int) -> str:
        return f"{self.prefix}{serial:09d}"

    def triaged(self, fingerprint: str, at: float) -> None:
        if not fingerprint.startswith(self.prefix):
            return
        serial = int(fingerprint[len(self.prefix) :])
        if serial not in self.triaged_at:
            self.triaged_at[serial] = at

    def record(
        self,
        serials: range,
        rate: float,
        start: float,
        end: float,
        judged_at: float,
        offered: int,
        failed: int,
    ) -> StepRecord:
        accepted = [s for s in serials if s in self.accepted_at]
        triaged = [self.triaged_at.get(s) for s in accepted]
        for s in accepted:
            t = self.triaged_at.get(s)
            if t is not None and t < self.accepted_at[s] - 1.0:
                self.implausible += 1
        return StepRecord(
            rate=rate,
            start=start,
            end=end,
            judged_at=judged_at,
            offered=offered,
            failed_requests=failed,
            accepted_at=[self.accepted_at[s] for s in accepted],
            triaged_at=triaged,
        )


# -- the running system ------------------------------------------------------------------


class FleetCpuMeter:
    """`bench.common.CpuMeter` for a whole fleet: CPU seconds (user + system) of each
    service's process and its children, the broker, Postgres (its postmaster and
    backends), this process (the load generator and the triage reader) and the whole
    machine."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids

    def _tree(self, pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def sample(self) -> dict[str, float]:
        t = psutil.cpu_times()  # guest time is already in user: not added again
        busy = t.user + t.nice + t.system + t.irq + t.softirq + t.steal
        found = {name: self._tree(pid) for name, pid in self.pids.items()}
        return {**found, "load_generator": time.process_time(), "machine": busy}

    @staticmethod
    def seconds(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


async def read_triage(bootstrap: str, topic: str, ledger: Ledger, stop: asyncio.Event) -> None:
    """Follow the incidents topic from its start and note each alert's triage time."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    note_triage(ledger, record.value, record.timestamp / 1000)
    finally:
        await consumer.stop()


def note_triage(ledger: Ledger, value: bytes | None, at: float) -> None:
    """An incidents-topic record: the alerts it says were triaged (opened an incident or
    attached to one), at `at`."""
    if not value:
        return
    try:
        event = json.loads(value)
    except ValueError:
        return  # not an event: triages nothing
    data = event.get("data") or {}
    kind = event.get("type", "")
    if kind.startswith("msp.incident.opened."):
        fps = data.get("alert_fingerprints", [])
    elif kind.startswith("msp.incident.updated."):
        fps = data.get("alerts_attached", [])
    else:
        return
    for fp in fps:
        ledger.triaged(fp, at)


@dataclass(frozen=True)
class Sent:
    """One step's sending: its window (wall clock), the alerts offered, the requests
    not answered 202, the alerts' serials, how late the latest request went out, and
    the CPU seconds per component over the window."""

    start: float
    end: float
    offered: int
    failed: int
    serials: range
    slip_max_s: float
    cpu_s: dict[str, float]


class Load:
    """Open-loop sender of pre-encoded webhooks to ingest."""

    def __init__(
        self,
        url: str,
        key: str,
        customers: Sequence[str],
        ledger: Ledger,
        max_in_flight: int,
        timeout_s: float,
        per_site: int = ALERTS_PER_SITE,
    ) -> None:
        self.ledger = ledger
        self.per_site = per_site
        self.customers = list(customers)
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.serial = 0
        self.request_no = 0
        self.in_flight = 0
        self.statuses: dict[str, int] = {}
        # a connection per request (a kept-alive one that the server closes as idle
        # just as a request goes out fails without an answer from ingest); at tens of
        # requests per second the connects cost nothing
        self.http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=0),
            timeout=timeout_s,
        )

    def bodies(self, n: int) -> list[tuple[range, bytes]]:
        """`n` requests of new alerts, encoded now (before the clock of a step starts)."""
        starts = datetime.now(UTC) - timedelta(seconds=5)
        out = []
        for _ in range(n):
            serials = range(self.serial, self.serial + ALERTS_PER_REQUEST)
            self.serial += ALERTS_PER_REQUEST
            customer = self.customers[self.request_no % len(self.customers)]
            self.request_no += 1
            fps = [self.ledger.fingerprint(s) for s in serials]
            out.append((serials, webhook(customer, fps, starts, self.per_site)))
        return out

    async def post(self, serials: range, body: bytes) -> bool:
        """One webhook; True when answered 202 (its alerts' accept times noted)."""
        self.in_flight += 1
        try:
            r = await self.http.post("/v1/integrations/alertmanager", content=body)
            outcome = str(r.status_code)
        except httpx.TimeoutException:
            outcome = "timeout"
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        finally:
            self.in_flight -= 1
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1
        if outcome != "202":
            return False
        now = time.time()
        for s in serials:
            self.ledger.accepted_at[s] = now
        return True

    def plan(self, rate: float, step_s: float) -> list[tuple[range, bytes]]:
        """The requests of a step of `rate` alerts/s for `step_s`, encoded."""
        return self.bodies(max(1, round(rate * step_s / ALERTS_PER_REQUEST)))

    async def run_step(
        self, planned: list[tuple[range, bytes]], step_s: float, meter: FleetCpuMeter | None
    ) -> Sent:
        """Send `planned` evenly over `step_s`, on schedule whatever the answers; then
        wait (bounded by the request timeout) for the answers. CPU is measured over the
        sending window."""
        interval = step_s / len(planned)
        tasks: list[asyncio.Task[bool]] = []
        not_sent = 0
        slip = 0.0
        before = meter.sample() if meter else {}
        start = time.time()
        t0 = time.monotonic()
        for i, (serials, body) in enumerate(planned):
            due = t0 + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            slip = max(slip, time.monotonic() - due)
            if self.in_flight >= self.max_in_flight:
                not_sent += 1  # open loop: the schedule does not wait for answers
                continue
            tasks.append(asyncio.create_task(self.post(serials, body)))
        window = max(step_s, time.monotonic() - t0)
        cpu = FleetCpuMeter.seconds(before, meter.sample()) if meter else {}
        done = await asyncio.wait_for(asyncio.gather(*tasks), self.timeout_s + 10)
        return Sent(
            start=start,
            end=start + window,
            offered=len(planned) * ALERTS_PER_REQUEST,
            failed=not_sent + sum(1 for ok in done if not ok),
            serials=range(planned[0][0].start, planned[-1][0].stop),
            slip_max_s=slip,
            cpu_s=cpu,
        )

    async def close(self) -> None:
        await self.http.aclose()


async def wait_triaged(ledger: Ledger, serials: range, deadline_s: float) -> None:
    """Until every accepted alert of `serials` is triaged, or `deadline_s` passed."""
    limit = time.monotonic() + deadline_s
    while time.monotonic() < limit:
        if all(s in ledger.triaged_at for s in serials if s in ledger.accepted_at):
            return
        await asyncio.sleep(0.25)  # poll tick: the reader fills the ledger


# -- the run ---------------------------------------------------------------------------------


def customers(n: int) -> list[str]:
    return [f"cust-e2e-{i:02d}" for i in range(1, n + 1)]


async def run_steps(
    fleet: Fleet,
    kafka: str,
    database_url: str,
    key: str,
    names: Sequence[str],
    rates: Sequence[float],
    step_s: float,
    drain_s: float,
    max_in_flight: int,
    per_site: int,
) -> tuple[list[StepVerdict], dict[str, float], int]:
    ledger = Ledger(prefix=f"e2e{uuid.uuid4().hex[:6]}-")
    stop = asyncio.Event()
    reader = asyncio.create_task(read_triage(kafka, fleet.topic("msp.incidents.v1"), ledger, stop))
    load = Load(
        fleet.url("ingest"), key, names, ledger, max_in_flight, timeout_s=30.0, per_site=per_site
    )
    meter = FleetCpuMeter(
        {
            **{c: fleet.pid(c) for c in COMPONENTS},
            "kafka": listener_pid(port_of(kafka)),
            "postgres": listener_pid(port_of(database_url)),
        }
    )
    verdicts: list[StepVerdict] = []
    metrics: dict[str, float] = {}
    try:
        # Warm-up: a request per customer, slowly, until all of it is triaged (the
        # contracts applied, every connection and cache warm); not measured.
        warm = await load.run_step(load.bodies(len(names)), 10.0, None)
        if warm.failed:
            raise RuntimeError(f"warm-up: {warm.failed} requests failed: {load.statuses}")
        serials = warm.serials
        await wait_triaged(ledger, serials, 300.0)
        missing = [s for s in serials if s not in ledger.triaged_at]
        if missing:
            raise RuntimeError(f"warm-up: {len(missing)} alerts not triaged within 300 s")
        print(f"warm: {len(serials)} alerts triaged", flush=True)
        # The system's own cost with nothing to do (schedulers, pollers, the relay's
        # wake-ups), warm, after the warm-up's work: what a step's CPU is measured against.
        before = meter.sample()
        await asyncio.sleep(IDLE_S)  # the measured window itself
        idle = {
            name: secs / IDLE_S
            for name, secs in FleetCpuMeter.seconds(before, meter.sample()).items()
        }
        for name, cores in idle.items():
            metrics[f"idle_{name.replace('-', '_')}_cpu_cores"] = round(cores, 3)
        for rate in rates:
            sent = await load.run_step(load.plan(rate, step_s), step_s, meter)
            await wait_triaged(ledger, sent.serials, drain_s)
            verdict = judge_step(
                ledger.record(
                    sent.serials, rate, sent.start, sent.end, time.time(), sent.offered, sent.failed
                )
            )
            print(verdict.summary(), flush=True)
            verdicts.append(verdict)
            metrics.update(step_metrics(verdict))
            metrics[f"step_{rate:.0f}_send_slip_max_s"] = round(sent.slip_max_s, 3)
            start, end = sent.start, sent.end
            accepted = verdict.accepted_per_s * (end - start)
            for name, secs in sent.cpu_s.items():
                part = name.replace("-", "_")  # sla-clock -> sla_clock in a key
                p = f"step_{rate:.0f}_{part}_"
                metrics[p + "cpu_cores"] = round(secs / (end - start), 3)
                metrics[p + "cpu_us_per_alert"] = round(secs / max(accepted, 1.0) * 1e6)
                # what each alert added beyond the idle cost: steadier at low rates
                added = max(0.0, secs - idle[name] * (end - start))
                metrics[p + "cpu_us_per_alert_net_of_idle"] = round(
                    added / max(accepted, 1.0) * 1e6
                )
            if not verdict.passed:
                break  # stepping on would only pile a backlog onto the next step
    finally:
        stop.set()
        await load.close()
        await asyncio.wait_for(reader, 30)
    return verdicts, metrics, ledger.implausible


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three short steps, nothing written")
    parser.add_argument("--rates", type=float, nargs="*", help="alerts/s per step, rising")
    parser.add_argument("--step-s", type=float, default=None, help="seconds per step")
    parser.add_argument("--drain-s", type=float, default=20.0, help="max wait after a step")
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument(
        "--alerts-per-site",
        type=int,
        default=ALERTS_PER_SITE,
        help="1: every alert opens its own incident, ticket and SLA clock",
    )
    parser.add_argument("--max-in-flight", type=int, default=256, help="requests unanswered")
    args = parser.parse_args()
    rates = args.rates or (QUICK_RATES if args.quick else FULL_RATES)
    step_s = args.step_s or (8.0 if args.quick else 25.0)
    names = customers(args.customers)
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    with infrastructure() as infra, tempfile.TemporaryDirectory(prefix="msp-bench-e2e-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        quiet = {"MSP_LOG_LEVEL": "WARNING"}
        settings = {name: dict(quiet) for name in COMPONENTS}
        # one credential sends the whole load: its rate limit must not be what is measured
        settings["ingest"].update(
            {"MSP_RATE_LIMIT_EVENTS_PER_S": "1000000000", "MSP_RATE_LIMIT_BURST": "1000000"}
        )
        fleet = Fleet(
            kafka=infra.kafka,
            database_url=infra.database_url,
            namespace=f"e2e_{uuid.uuid4().hex[:6]}_",
            data_dir=work / "fleet",
            settings=settings,
            event_time=False,  # wall-clock time, as in production
        )
        with fleet:
            key = fleet.create_api_key(source="e2e-load", customers=names)
            post_contracts(fleet.url("ingest"), key, names)
            verdicts, metrics, implausible = asyncio.run(
                run_steps(
                    fleet,
                    infra.kafka,
                    infra.database_url,
                    key,
                    names,
                    rates,
                    step_s,
                    args.drain_s,
                    args.max_in_flight,
                    args.alerts_per_site,
                )
            )
            for name in COMPONENTS:
                if not fleet.running(name):
                    raise SystemExit(f"service {name} ended during the run")
        facts = machine(infra, asyncio.run(server_version(infra.database_url)))
    if implausible:
        raise SystemExit(
            f"{implausible} triage records are stamped before their alert was accepted: "
            "the incidents topic's record timestamps are not the relay's wall clock"
        )
    best = sustained_rate(verdicts)
    summary: dict[str, float] = {"e2e_sustained_alerts_per_s": best}
    sustained = next((v for v in verdicts if v.rate == best), None)
    if sustained is not None:
        summary.update(
            {
                "e2e_sustained_lag_p50_s": round(sustained.lag_p50_s, 3),
                "e2e_sustained_lag_p99_s": round(sustained.lag_p99_s, 3),
                "e2e_sustained_lag_max_s": round(sustained.lag_max_s, 3),
            }
        )
        prefix = f"step_{best:.0f}_"
        for k, v in metrics.items():
            if k.startswith(prefix) and "_cpu_" in k:
                summary["e2e_sustained_" + k[len(prefix) :]] = v
    failed = next((v for v in verdicts if not v.passed), None)
    summary["e2e_first_failed_step_alerts_per_s"] = failed.rate if failed else 0.0
    summary.update(
        {
            "alerts_per_request": float(ALERTS_PER_REQUEST),
            "alerts_per_site": float(args.alerts_per_site),
            "customers": float(args.customers),
            "step_s": step_s,
            "p99_limit_s": P99_LIMIT_S,
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
            "total_wall_s": round(time.monotonic() - began, 1),
        }
    )
    result = {**summary, **metrics}
    print(json.dumps(result, indent=2))
    if args.quick:
        print("--quick: nothing written")
        return
    path = write_results("e2e", facts, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
