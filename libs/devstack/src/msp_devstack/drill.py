"""Fault drills: the whole system (its own broker, its own Postgres, the four services
of `Fleet`) under `load.SteadyLoad` while one fault happens, then what it cost.

`FaultSystem.drill(fault)` runs one case: load until events flow, the fault (Postgres
restarted or frozen, the broker restarted or frozen, a service SIGKILLed and started
again), load on until every service is ready again, then the clients finish their
retries and the drill waits (bounded) until every event answered 202 is applied
downstream. `DrillOutcome` holds what a test asserts and what `make bench-faults`
records: the recovery times, the services that were restarted (their pid changed),
duplicate ids per topic, events not applied, the clients' answers.

The broker and Postgres are this system's own: the faults hit them, so they must not
be the ones other tests share.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from msp_devstack.fleet import Fleet
from msp_devstack.kafka import LocalKafka
from msp_devstack.load import Expected, LoadReport, SteadyLoad, contract_event
from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import log_tail, run_sync
from msp_events import decode
from msp_events.serde import EventValidationError, to_json_obj
from msp_events.topics import PARTITIONS
from msp_events.types.billing import LineItemRecorded
from msp_events.types.incidents import IncidentOpened, IncidentUpdated
from msp_events.types.sla import SlaClockStarted

CUSTOMERS = ("cust-fa", "cust-fb", "cust-fc", "cust-fd")
CANONICAL = ("msp.monitoring.v1", "msp.tickets.v1")
"""Where ingest publishes what the load sends (incidents' proactive tickets go to the
tickets topic too, under ids of their own)."""
OUTPUTS = ("msp.incidents.v1", "msp.sla.v1", "msp.billing.line-items.v1", "msp.deadletter.v1")
READY_LIMIT_S = 60.0
APPLY_LIMIT_S = 120.0

Fault = Callable[["FaultSystem"], None]


@dataclass
class DrillOutcome:
    name: str
    fault_s: float
    """From the fault's start until it ended (the dependency or service back)."""
    ready_after_s: float | None
    """Fault end -> every service's /readyz answered 200 (None: not within the limit)."""
    rate_back_after_s: float | None
    """Fault end -> the 202s of a 2 s window reach half the pre-fault rate."""
    applied_after_s: float | None
    """Fault end -> every event answered 202 is applied downstream, measured once the
    load ran on (40 more 202s) and every client finished its retries: the clients'
    retry tail is included."""
    restarted: list[str]
    """Services whose process changed (the fault's own victim aside, none may)."""
    canonical_duplicates: dict[str, list[str]]
    """Topic -> ids published more than once by ingest (new in this drill)."""
    output_duplicates: dict[str, list[str]]
    """Topic -> ids the services emitted more than once (new in this drill)."""
    not_applied: dict[str, list[str]]
    """Kind -> accepted events without their downstream effect (at the limit)."""
    not_on_canonical: list[str]
    """Accepted ids missing from the canonical topics."""
    dead_letters: int
    """New records on the dead-letter topic."""
    statuses: dict[str, int]
    """The clients' attempts by answer during this drill."""
    gave_up: int
    accepted: int
    """Events answered 202 during this drill."""
    phases: dict[str, float] = field(default_factory=dict)
    """The fault's own steps, in seconds (e.g. a restart's stop and start)."""

    def summary(self) -> str:
        return (
            f"{self.name}: fault {self.fault_s:.1f} s; ready after {self.ready_after_s} s, "
            f"202 rate back after {self.rate_back_after_s} s, applied after "
            f"{self.applied_after_s} s; {self.accepted} events accepted; answers "
            f"{self.statuses}; restarted {self.restarted}; duplicates canonical "
            f"{ {t: len(v) for t, v in self.canonical_duplicates.items()} } outputs "
            f"{ {t: len(v) for t, v in self.output_duplicates.items()} }; dead letters "
            f"{self.dead_letters}; gave up {self.gave_up}; fault steps {self.phases}"
        )


@dataclass
class TopicTally:
    """The topics read incrementally (positions kept between reads): how often each id
    occurs, and what the services made of the load (fingerprints in incidents, tickets
    with an SLA clock, entries with a line item)."""

    bootstrap: str
    topics: tuple[str, ...]
    ids: dict[str, Counter[str]] = field(default_factory=dict)
    triaged: set[str] = field(default_factory=set)
    clocked: set[str] = field(default_factory=set)
    billed: set[str] = field(default_factory=set)
    records: Counter[str] = field(default_factory=Counter)
    _positions: dict[TopicPartition, int] = field(default_factory=dict)

    def refresh(self, within: float = 30.0) -> None:
        run_sync(lambda: self._read(within))

    async def _read(self, within: float) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, max_poll_records=5000
        )
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, self._positions.get(tp, 0))
            remaining = {tp for tp in tps if end[tp] > self._positions.get(tp, 0)}
            deadline = time.monotonic() + within
            while remaining:
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not read {sorted(map(str, remaining))} in time")
                batch = await consumer.getmany(timeout_ms=200)
                for tp, recs in batch.items():
                    for record in recs:
                        if record.offset < end[tp]:
                            self._count(tp.topic, record.value)
                            self._positions[tp] = record.offset + 1
                    if self._positions.get(tp, 0) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()

    def _count(self, topic: str, value: bytes | None) -> None:
        self.records[topic] += 1
        try:
            event = decode(value or b"")
        except EventValidationError:
            return
        self.ids.setdefault(topic, Counter())[event.id] += 1
        data = event.data
        if isinstance(data, IncidentOpened):
            self.triaged.update(data.alert_fingerprints)
        elif isinstance(data, IncidentUpdated):
            self.triaged.update(data.alerts_attached)
        elif isinstance(data, SlaClockStarted):
            self.clocked.add(data.ticket_id)
        elif isinstance(data, LineItemRecorded) and data.entry_id:
            self.billed.add(data.entry_id)

    def duplicates(self, topic: str) -> set[str]:
        return {i for i, n in self.ids.get(topic, Counter()).items() if n > 1}

    def missing(self, expected: Mapping[str, Expected]) -> dict[str, list[str]]:
        """Accepted events whose downstream effect is not on the output topics yet."""
        seen = {"alert": self.triaged, "ticket": self.clocked, "entry": self.billed}
        found: dict[str, list[str]] = {}
        for x in expected.values():
            if x.key not in seen[x.kind]:
                found.setdefault(x.kind, []).append(x.key)
        return found


class FaultSystem:
    """Kafka + Postgres of its own under `work_dir`, the four services, one load."""

    def __init__(
        self, work_dir: Path, *, requests_per_s: float = 15.0, down_s: float = 12.0
    ) -> None:
        self.work_dir = work_dir
        self.requests_per_s = requests_per_s
        self.down_s = down_s
        self.kafka = LocalKafka(work_dir / "kafka", heap_mb=384)
        self.postgres = LocalPostgres(work_dir / "pg", durable=False)
        self.fleet: Fleet | None = None
        self.load: SteadyLoad | None = None
        self.tally: TopicTally | None = None
        self.phases: dict[str, float] = {}
        """Set by a fault: how long its steps took (a restart: stop_s, down_s, start_s)."""
        self._seen_duplicates: dict[str, set[str]] = {}
        self._dead_letters = 0

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FaultSystem:
        self.kafka.start()
        self.postgres.start()
        namespace = f"f_{uuid.uuid4().hex[:8]}_"
        fleet = Fleet(
            kafka=self.kafka.bootstrap_servers,
            database_url=self.postgres.database_url,
            namespace=namespace,
            data_dir=self.work_dir / "fleet",
            # a claim ingest could not follow (its INSERT committed while ingest had
            # given up on a frozen Postgres; a claim of a killed process) is settled
            # from the topic after this grace, longer than the produce timeout (15 s)
            # so no produce of it can still land; the default, 60 s, keeps those
            # clients' retries "outcome unknown" for a minute and the drill longer
            settings={"ingest": {"MSP_DOUBT_ORPHAN_GRACE_S": "20"}},
        )
        self.fleet = fleet.start()
        key = fleet.create_api_key(source="faults-load", customers=list(CUSTOMERS))
        post_contracts(fleet.url("ingest"), key, CUSTOMERS)
        self.load = SteadyLoad(
            ingest_url=fleet.url("ingest"),
            key=key,
            customers=CUSTOMERS,
            requests_per_s=self.requests_per_s,
        )
        topics = tuple(fleet.topic(t) for t in (*CANONICAL, *OUTPUTS))
        self.tally = TopicTally(self.kafka.bootstrap_servers, topics)
        return self

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.postgres.thaw()
        with contextlib.suppress(Exception):
            self.kafka.thaw()
        if self.fleet is not None:
            self.fleet.close()
        self.postgres.stop()
        self.kafka.stop()

    def __enter__(self) -> FaultSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one drill --------------------------------------------------------------------
    def drill(self, name: str, fault: Fault | None) -> DrillOutcome:
        """Load, `fault` (None: no fault, the baseline), load until ready, then wait
        until everything accepted is applied."""
        fleet, load, _ = self._parts()
        pids = {n: fleet.pid(n) for n in fleet.names}
        before = Counter(load.report.statuses)
        accepted_before = len(load.report.accepted_at)
        with load.running():
            began = time.monotonic()
            _wait(lambda: load.accepted_since(began) >= 40, 120, "the load's first 202s")
            warm_rate = load.accepted_since(began) / (time.monotonic() - began)
            fault_start = time.monotonic()
            self.phases = {}
            if fault is not None:
                fault(self)
            fault_end = time.monotonic()
            ready_after = self._wait_ready(fault_end)
            settled = time.monotonic()
            _wait(lambda: load.accepted_since(settled) >= 40, 120, "202s after the fault")
        applied_after, not_applied = self._wait_applied(fault_end)
        report = load.report
        statuses = dict(Counter(report.statuses) - before)
        return DrillOutcome(
            name=name,
            fault_s=round(fault_end - fault_start, 1),
            ready_after_s=ready_after,
            rate_back_after_s=rate_back(report, fault_end, warm_rate),
            applied_after_s=applied_after,
            restarted=[n for n in fleet.names if fleet.pid(n) != pids[n]],
            canonical_duplicates=self._new_duplicates(CANONICAL, producer="ingest"),
            output_duplicates=self._new_duplicates((*CANONICAL, *OUTPUTS), producer="services"),
            not_applied=not_applied,
            not_on_canonical=self._not_on_canonical(),
            dead_letters=self._new_dead_letters(),
            statuses=statuses,
            gave_up=report.gave_up,
            accepted=len(report.accepted_at) - accepted_before,
            phases=dict(self.phases),
        )

    def _parts(self) -> tuple[Fleet, SteadyLoad, TopicTally]:
        if self.fleet is None or self.load is None or self.tally is None:
            raise RuntimeError("FaultSystem is not started")
        return self.fleet, self.load, self.tally

    def _wait_ready(self, since: float) -> float | None:
        """Seconds from `since` until every service answers /readyz 200, polled; None
        if that did not happen within twice the limit (measured beyond it, asserted by
        the caller)."""
        fleet, _, _ = self._parts()
        deadline = since + 2 * READY_LIMIT_S
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                self._check_alive()
                if all(_ready(http, fleet.url(n)) for n in fleet.names):
                    return round(time.monotonic() - since, 1)
                time.sleep(0.25)  # poll tick
        return None

    def _check_alive(self) -> None:
        """A service that ended by itself (a loop dead for good) fails the drill now."""
        fleet, _, _ = self._parts()
        for name in fleet.names:
            if not fleet.running(name):
                raise AssertionError(
                    f"service {name} ended during the drill:\n{log_tail(fleet.log_path(name))}"
                )

    def _wait_applied(self, since: float) -> tuple[float | None, dict[str, list[str]]]:
        _, load, tally = self._parts()
        expected = load.accepted()
        deadline = time.monotonic() + APPLY_LIMIT_S
        while True:
            self._check_alive()
            tally.refresh()
            missing = tally.missing(expected)
            if not missing:
                return round(time.monotonic() - since, 1), {}
            if time.monotonic() > deadline:
                return None, missing
            time.sleep(1.0)  # poll tick: the services are working through the backlog

    def _new_duplicates(self, topics: tuple[str, ...], *, producer: str) -> dict[str, list[str]]:
        """Ids on `topics` more than once not reported before; `producer` "ingest" counts
        the load's ids, "services" every other id."""
        fleet, load, tally = self._parts()
        accepted = load.accepted()
        found: dict[str, list[str]] = {}
        for registry in topics:
            topic = fleet.topic(registry)
            seen = self._seen_duplicates.setdefault(f"{producer}:{topic}", set())
            dups = {i for i in tally.duplicates(topic) if (i in accepted) == (producer == "ingest")}
            new = sorted(dups - seen)
            seen.update(new)
            if new:
                found[registry] = new
        return found

    def _not_on_canonical(self) -> list[str]:
        fleet, load, tally = self._parts()
        on_topic: set[str] = set()
        for registry in CANONICAL:
            on_topic.update(tally.ids.get(fleet.topic(registry), Counter()))
        return sorted(set(load.accepted()) - on_topic)

    def _new_dead_letters(self) -> int:
        fleet, _, tally = self._parts()
        total = tally.records[fleet.topic("msp.deadletter.v1")]
        new, self._dead_letters = total - self._dead_letters, total
        return new


# -- the faults ---------------------------------------------------------------------------


def postgres_restart(system: FaultSystem) -> None:
    """pg_ctl stop -m fast, `down_s` with nothing listening, the same cluster back."""
    _timed_restart(system, system.postgres)


def postgres_freeze(system: FaultSystem) -> None:
    """Postgres SIGSTOPped for `down_s`: connections open, nothing answers."""
    with _frozen(system.postgres):
        time.sleep(system.down_s)  # the fault's duration itself


def broker_restart(system: FaultSystem) -> None:
    """The broker stopped (controlled shutdown), `down_s` away, back on the same data."""
    _timed_restart(system, system.kafka)


def _timed_restart(system: FaultSystem, server: LocalPostgres | LocalKafka) -> None:
    """`server.restart(down_s)` step by step, each step's duration in `system.phases`."""
    began = time.monotonic()
    server.stop()
    stopped = time.monotonic()
    time.sleep(system.down_s)  # the outage itself: nothing to wait for
    back = time.monotonic()
    server.start()
    system.phases = {
        "stop_s": round(stopped - began, 1),
        "down_s": round(back - stopped, 1),
        "start_s": round(time.monotonic() - back, 1),
    }


def broker_freeze(system: FaultSystem) -> None:
    """The broker's JVM SIGSTOPped for `down_s`."""
    with _frozen(system.kafka):
        time.sleep(system.down_s)  # the fault's duration itself


def service_kill(name: str) -> Fault:
    """SIGKILL `name` (nothing flushed), then start it again (ready before returning)."""

    def kill(system: FaultSystem) -> None:
        fleet, _, _ = system._parts()
        fleet.kill(name)
        fleet.start_service(name)

    kill.__name__ = f"kill_{name}"
    return kill


FAULTS: dict[str, Fault] = {
    "postgres_restart": postgres_restart,
    "postgres_freeze": postgres_freeze,
    "broker_restart": broker_restart,
    "broker_freeze": broker_freeze,
    **{f"kill_{n}": service_kill(n) for n in ("ingest", "incidents", "sla-clock", "billing")},
}


@contextlib.contextmanager
def _frozen(server: LocalPostgres | LocalKafka) -> Iterator[None]:
    server.freeze()
    try:
        yield
    finally:
        server.thaw()


def _ready(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url + "/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)  # poll tick


def rate_back(report: LoadReport, since: float, rate: float, window: float = 2.0) -> float | None:
    """Seconds after `since` at which 202s came at half of `rate` again (over `window`)."""
    times = sorted(t for t in report.accepted_at if t >= since)
    need = max(1, int(rate * window / 2))
    for i in range(len(times) - need + 1):
        if times[i + need - 1] - times[i] <= window:
            return round(times[i + need - 1] - since, 1)
    return None


def post_contracts(ingest_url: str, key: str, customers: Sequence[str]) -> None:
    """Every customer's contract, posted to ingest as one CloudEvents batch (the fault
    suite's and the end-to-end bench's world)."""
    body = [to_json_obj(contract_event(c)) for c in customers]
    r = httpx.post(
        ingest_url + "/v1/events",
        json=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/cloudevents-batch+json",
        },
        timeout=60,
    )
    if r.status_code != 202:
        raise RuntimeError(f"contracts not accepted: {r.status_code} {r.text}")
