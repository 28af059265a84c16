"""The simulated month's outputs, canonicalised, and the golden file they are held to.

`play_month` starts the five services (`Fleet`, event-time mode, as `make run`
simulates), plays the simulator's month (`msp_simulator.generate`, seed `SEED`, March
2026, `CUSTOMERS` customers) through ingest's HTTP API day by day, waits until every
consumer has caught up, runs the month's invoice run, waits until billing's outbox has
relayed it, and reads what the system produced:

- every record of every registry topic (`msp_events.topics.TOPICS`: ingest's canonical
  topics, incidents, tickets, SLA, line items, invoices and credit notes, the accounting
  documents, dead letters, and the raw topics, which stay empty), keyed by (topic, event
  id), the value's bytes exactly as on the topic except `RANDOM_FIELDS`;
- notify's planned notices (`notify.deliveries`, a pseudo-topic): one per (channel,
  address, notice), whether the notice has a delivery of its own or was folded into a
  grouped one.

Each record becomes one golden line: topic, id, Kafka key, sha256 of the value (and of
the headers). The golden file holds those lines sorted by (topic, id), and its last
line the sha256 of all of them.

Where the wall clock, randomness or the interleaving of partitions reaches an output,
and how it is made fixed or masked (`RANDOM_FIELDS`; tests/e2e/README.md says more):

- ingest starts each request's span with `secrets.token_hex(8)` (W3C trace context: a
  new span id per request) and puts it in the `traceparent` of every event it accepts;
  without a `traceparent` header it also starts a new trace id. The player's HTTP client
  here sends one `traceparent` per simulated day (`day_trace`, which says why not one
  per request), so trace ids are fixed; the request span id in ingest's events is
  masked as `<request-span>`.
  Every event derived from another carries a span id hashed from its trace id and its
  own id, kept as is.
- the invoice run's `actor.credential_id`: the API key made for this run (random).
- sla-clock's scheduler fires deadlines when the max event time over ALL partitions
  passes them; the player waits per simulated day, but within a day partitions
  interleave as they will. So whether a warning or breach fires before the event that
  withdraws it, the trace it continues and a correction's `corrected_at` vary between
  runs of the same code: warnings, breaches, escalation steps and corrections are
  compared as `net_outcomes` (the instant each statement stands at in the end), and a
  monthly report's `time`/`as_of` (when it fired) is masked as `<scheduler-now>`.
- notify folds incident notices arriving within `MSP_GROUP_WINDOW_S` of wall time into
  one message, so which delivery row carries a notice depends on timing: notices are
  held once per (channel, address, notice), not per row; its SLA notices follow the
  scheduler's statements and are left out.
Nothing else: ids are derived (uuid5), instants are event time, the invoice run's
`issued_at` is its `as_of`.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import read_topic, wait_for
from msp_events.topics import SLA, TOPICS
from msp_simulator import catchup, summary
from msp_simulator.keys import create_keys
from msp_simulator.player import Services, days_of, month_end, play
from msp_simulator.scenario import Month, generate

SEED = 1
MONTH = date(2026, 3, 1)
CUSTOMERS = 30
GOLDEN = Path(__file__).parent / "golden" / f"month-{MONTH:%Y-%m}-seed{SEED}.tsv"
GOLDEN_VALUES = GOLDEN.with_suffix(".values.jsonl.xz")
"""The golden records' values (canonical, as hashed): only for showing a difference."""
WRITE_ENV = "MSP_GOLDEN_WRITE"
"""Set to 1 to (re)write the golden file from this run instead of comparing with it."""

NOTIFY_TOPIC = "notify.deliveries"
SLA_NET = f"{SLA.name} net outcomes"
CORRECTED = "msp.sla.outcome_corrected.v1"
SCHEDULED = frozenset(
    {"msp.sla.warning.v1", "msp.sla.escalated.v1", "msp.sla.breached.v1", CORRECTED}
)
"""SLA events whose existence, trace and `corrected_at` depend on how far the
scheduler's event time (the max over all partitions) ran ahead of the ticket's own
partition when it fired: compared as `net_outcomes`, not byte for byte."""
REPORT = "msp.sla.monthly_report.v1"
SCHEDULER_NOW = b"<scheduler-now>"
REQUEST_SPAN = b"<request-span>"
CREDENTIAL = b"<credential>"
RANDOM_FIELDS = {
    "traceparent (span id) of events ingest accepted": "ingest's request span "
    "(secrets.token_hex(8) per HTTP request), masked as <request-span>",
    f"{NOTIFY_TOPIC}: which row carries a notice, times, statuses": "notify groups "
    "notices by wall time; the golden holds each notice once per channel and address",
    "SLA warnings, breaches, escalation steps, corrections": "fired when the max event "
    "time over all partitions passes a deadline: compared as net outcomes",
    "SLA monthly report's time and as_of (and its notice's)": "the scheduler's event-time "
    "now when it fired (max over all partitions), masked as <scheduler-now>",
    "actor.credential_id of the invoice run": "a fresh random API key per run, masked",
}
"""What is not byte-for-byte in the golden, and why (see the module docstring)."""

FINAL_SETTLE_S = 240.0


@dataclass(frozen=True)
class Output:
    """One output record, canonicalised."""

    topic: str  # registry name, without the test namespace
    id: str  # the event id (CloudEvents `id`); for notify, a digest of the notice
    key: str
    value: bytes  # as on the topic, RANDOM_FIELDS masked
    headers: str
    copies: int = 1  # identical records seen (a relay may publish one twice)

    @property
    def line(self) -> str:
        digest = hashlib.sha256(self.value).hexdigest()
        heads = hashlib.sha256(self.headers.encode()).hexdigest()[:16]
        return f"{self.topic}\t{self.id}\t{self.key}\t{digest}\t{heads}"


# -- running the month ------------------------------------------------------------------
def the_month() -> Month:
    return generate(seed=SEED, month=MONTH, customers=CUSTOMERS)


def day_trace(day: date) -> str:
    """The `traceparent` every request of one simulated day carries: fixed trace ids,
    one per day. Not one per request: an SLA event continues the trace of its ticket's
    latest event in the consumer's batch (sla_clock/consumers.py), and whether two
    requests of a day fall into one batch depends on timing. Batches never span two
    days: the player waits for the services after each day."""
    digest = hashlib.sha256(f"simulated month, seed {SEED}, {day.isoformat()}".encode())
    hexed = digest.hexdigest()
    return f"00-{hexed[:32]}-{hexed[32:48]}-01"


def play_month(kafka: str, database_url: str, data_dir: Path) -> list[Output]:
    """Run the month on a fresh fleet (its own namespace) and return its outputs."""
    month = the_month()
    with Fleet(
        kafka=kafka, database_url=database_url, namespace=new_namespace(), data_dir=data_dir
    ) as fleet:
        customers = [c.customer_id for c in month.world.customers]
        keys = create_keys(customers=customers, env=fleet.env("ingest"))
        services = Services(
            ingest=fleet.url("ingest"),
            incidents=fleet.url("incidents"),
            sla=fleet.url("sla-clock"),
            billing=fleet.url("billing"),
        )
        with httpx.Client(timeout=60, headers=keys.operator_headers()) as http:
            posted = 0
            for day, posts in days_of(month.posts):
                http.headers["traceparent"] = day_trace(day)
                one_day = replace(month, posts=tuple(posts))
                stats = play(one_day, services=services, keys=keys, progress=print, client=http)
                posted += stats.posted
            assert posted == month.event_count, (posted, month.event_count)
            watched = [services.incidents, services.sla, services.billing, fleet.url("notify")]
            settled = catchup.wait_settled(
                http,
                dict.fromkeys([u for u in watched if u], 0.0),
                quiet_s=2.0,
                timeout_s=FINAL_SETTLE_S,
            )
            assert settled, "the services did not settle after the month"
            period = f"{MONTH:%Y-%m}"
            outcomes = summary.invoice_run(
                http, fleet.url("billing"), period=period, as_of=month_end(month)
            )
            issued = [o for o in outcomes if o.get("outcome") == "issued"]
            assert issued, f"the invoice run issued nothing: {outcomes}"
        wait_for(
            lambda: run_sync(lambda: _outbox_empty(fleet)),
            timeout=120,
            message="billing's outbox relayed the invoice run",
        )
        # billing and notify read the invoices / SLA topics too: let them settle
        with httpx.Client(timeout=60, headers=keys.operator_headers()) as http:
            assert catchup.wait_settled(
                http,
                {fleet.url("billing"): 0.0, fleet.url("notify"): 0.0},
                quiet_s=2.0,
                timeout_s=FINAL_SETTLE_S,
            ), "billing and notify did not settle after the invoice run"
        return run_sync(lambda: _read_outputs(kafka, database_url, fleet))


async def _outbox_empty(fleet: Fleet) -> bool:
    conn = await asyncpg.connect(fleet.database_url)
    try:
        for name in fleet.names:
            table = f'"{fleet.schema(name)}".outbox'
            if await conn.fetchval("SELECT to_regclass($1)", table) is None:
                continue  # a service without an outbox (ingest publishes directly)
            if await conn.fetchval(f"SELECT count(*) FROM {table} WHERE sent_at IS NULL"):
                return False
        return True
    finally:
        await conn.close()


async def _read_outputs(kafka: str, database_url: str, fleet: Fleet) -> list[Output]:
    found: list[Output] = []
    for topic in TOPICS:
        records = await read_topic(kafka, topic.named(fleet.namespace), within=60)
        found += canonical(topic.name, records)
    found += await _notices(database_url, fleet.schema("notify"))
    return found


# -- canonical form -----------------------------------------------------------------------
def _child_span(trace_id: str, event_id: str) -> str:
    """msp_events.tracing.TraceContext.child's span id (restated: the golden must not
    move when that code moves)."""
    digest = hashlib.sha1(f"{trace_id}\x1f{event_id}".encode(), usedforsecurity=False)
    hexed = digest.hexdigest()
    return hexed[:16] if hexed[:16] != "0" * 16 else hexed[16:32]


def mask(value: bytes, event: dict[str, Any]) -> bytes:
    """`value` with RANDOM_FIELDS masked: ingest's request span id (a derived event's
    span id is a hash of its trace id and id, kept), a monthly report's firing instant
    and an operator's credential id."""
    parent = event.get("traceparent")
    if isinstance(parent, str) and parent.count("-") == 3:
        _, trace_id, span_id, _ = parent.split("-")
        if span_id != _child_span(trace_id, str(event.get("id"))):
            value = value.replace(f"-{span_id}-".encode(), b"-" + REQUEST_SPAN + b"-", 1)
    data = event.get("data")
    if event.get("type") == REPORT and isinstance(data, dict) and data.get("as_of"):
        value = value.replace(f'"{data["as_of"]}"'.encode(), b'"' + SCHEDULER_NOW + b'"')
    actor = data.get("actor") if isinstance(data, dict) else None
    credential = actor.get("credential_id") if isinstance(actor, dict) else None
    if isinstance(credential, str) and credential:
        value = value.replace(credential.encode(), CREDENTIAL)
    return value


def canonical(topic: str, records: Iterable[Any]) -> list[Output]:
    """One `Output` per (topic, event id); identical copies are counted, and two
    different values under one id are both kept (the comparison reports them). On the
    SLA topic, the scheduler's statements and the corrections become net outcomes
    (`net_outcomes`)."""
    by_id: dict[str, list[Output]] = defaultdict(list)
    sla: list[dict[str, Any]] = []
    for record in records:
        value = bytes(record.value)
        event = json.loads(value)
        if topic == SLA.name:
            sla.append(event)
            if event.get("type") in SCHEDULED:
                continue
        headers = ";".join(f"{k}={bytes(v).decode('latin-1')}" for k, v in record.headers)
        out = Output(
            topic=topic,
            id=str(event["id"]),
            key=(record.key or b"").decode(),
            value=mask(value, event),
            headers=headers,
        )
        same = [o for o in by_id[out.id] if o.value == out.value and o.key == out.key]
        if same:
            kept = same[0]
            by_id[out.id][by_id[out.id].index(kept)] = Output(
                **{**kept.__dict__, "copies": kept.copies + 1}
            )
        else:
            by_id[out.id].append(out)
    found = [o for outs in by_id.values() for o in outs]
    if topic == SLA.name:
        found += net_outcomes(sla)
    return found


def _slot(event: dict[str, Any]) -> tuple[tuple[str, str, int, str], str | None] | None:
    """((clock, statement, percent, priority), instant) of an outcome statement:
    sla_clock.corrections.statement_of, restated (the golden must not move with it)."""
    data, kind = event["data"], str(event.get("type"))
    clock = str(data.get("clock_id"))
    if kind == "msp.sla.warning.v1":
        return (clock, "warning", int(data["threshold_percent"]), str(data["priority"])), data["at"]
    if kind == "msp.sla.escalated.v1":
        return (clock, "escalation", int(data["threshold_percent"]), ""), data["at"]
    if kind == "msp.sla.breached.v1":
        return (clock, "breach", 0, ""), data["breached_at"]
    if kind == "msp.sla.met.v1":
        return (clock, "met", 0, ""), data["met_at"]
    if kind == "msp.sla.clock_cancelled.v1":
        return (clock, "cancellation", 0, ""), data["cancelled_at"]
    return None


def net_outcomes(events: Sequence[dict[str, Any]]) -> list[Output]:
    """What a consumer applying the scheduler's statements and the corrections in
    order ends with: per warning, escalation step and breach, the instant it stands
    at (withdrawn ones dropped). `events` in partition order (a clock's events are on
    one partition, in order)."""
    state: dict[tuple[str, str, int, str], tuple[str | None, dict[str, Any]]] = {}
    slot_of: dict[str, tuple[str, str, int, str]] = {}
    for event in events:
        data = event["data"]
        if event.get("type") == CORRECTED:
            slot = slot_of.get(str(data["corrects_event_id"]))
            if slot is None:
                raise AssertionError(f"a correction of an unknown statement: {event}")
            slot_of[str(event["id"])] = slot
            state[slot] = (data.get("now_at"), event)
            continue
        stated = _slot(event)
        if stated is None:
            continue
        slot, at = stated
        slot_of[str(event["id"])] = slot
        state[slot] = (at, event)
    found = []
    for slot, (at, event) in state.items():
        if at is None:
            continue
        clock, statement, percent, priority = slot
        value = json.dumps(
            {
                "clock_id": clock,
                "ticket_id": event["data"]["ticket_id"],
                "statement": statement,
                "percent": percent,
                "priority": priority,
                "at": at,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        found.append(
            Output(
                topic=SLA_NET,
                id=f"{clock}/{statement}/{percent}/{priority}",
                key=str(event.get("customerid", "")),
                value=value,
                headers="",
            )
        )
    return found


async def _notices(database_url: str, schema: str) -> list[Output]:
    """notify's notices: each (channel, address, notice) once, whether it opened a
    delivery or joined a grouped one (`members`)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            f"SELECT customer_id, kind, channel, address, message::text AS message, "
            f'members::text AS members FROM "{schema}".deliveries'
        )
    finally:
        await conn.close()
    seen: Counter[tuple[str, str, str, bytes]] = Counter()
    for row in rows:
        if row["kind"].startswith("sla_"):
            continue  # follows the scheduler's statements (RANDOM_FIELDS)
        for notice in [json.loads(row["message"]), *json.loads(row["members"])]:
            if notice.get("kind") == "monthly_report":
                notice["at"] = SCHEDULER_NOW.decode()
                notice["facts"]["report"]["as_of"] = SCHEDULER_NOW.decode()
            value = json.dumps(notice, sort_keys=True, separators=(",", ":")).encode()
            seen[(row["customer_id"], row["channel"], row["address"], value)] += 1
    found = []
    for (customer, channel, address, value), copies in seen.items():
        ident = hashlib.sha256(b"%s\n%s\n%s" % (channel.encode(), address.encode(), value))
        found.append(
            Output(
                topic=NOTIFY_TOPIC,
                id=ident.hexdigest()[:32],
                key=customer,
                value=value,
                headers=f"channel={channel};address={address}",
                copies=copies,
            )
        )
    return found


# -- the golden file ------------------------------------------------------------------------
def lines(outputs: Sequence[Output]) -> list[str]:
    return sorted(o.line for o in outputs)


def total(body: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(body).encode()).hexdigest()


def render(outputs: Sequence[Output], *, commit: str) -> str:
    body = lines(outputs)
    counts = Counter(o.topic for o in outputs)
    head = [
        f"# the simulated month's outputs: seed {SEED}, {MONTH:%Y-%m}, {CUSTOMERS} customers",
        f"# generated at commit {commit} by tests/e2e/test_month_golden.py "
        f"({WRITE_ENV}=1; see tests/e2e/README.md)",
        "# topic\tid\tkey\tsha256(value)\tsha256(headers)[:16]",
        *(f"# count {topic} {n}" for topic, n in sorted(counts.items())),
    ]
    return "\n".join([*head, *body, f"# total {total(body)}"]) + "\n"


def read_golden(path: Path = GOLDEN) -> list[str]:
    return [x for x in path.read_text().splitlines() if x and not x.startswith("#")]


def golden_total(path: Path = GOLDEN) -> str:
    last = path.read_text().splitlines()[-1]
    return last.removeprefix("# total ")


def write_values(outputs: Sequence[Output], path: Path) -> None:
    """Every record's value, one JSON line per record in golden order (xz: ~10x)."""
    rows = sorted(outputs, key=lambda o: o.line)
    text = "".join(
        json.dumps({"line": o.line, "value": o.value.decode()}, ensure_ascii=False) + "\n"
        for o in rows
    )
    path.write_bytes(lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME))


def read_values(path: Path = GOLDEN_VALUES) -> dict[str, bytes]:
    """golden line -> the value it hashes (empty when the values file is absent)."""
    if not path.exists():
        return {}
    found = {}
    for row in lzma.decompress(path.read_bytes()).decode().splitlines():
        item = json.loads(row)
        found[item["line"]] = item["value"].encode()
    return found


def write_golden(outputs: Sequence[Output], path: Path = GOLDEN) -> None:
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(outputs, commit=commit or "unknown"))
    write_values(outputs, path.with_suffix(".values.jsonl.xz"))


def wants_write() -> bool:
    return os.environ.get(WRITE_ENV, "") == "1"


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.0f} s"
