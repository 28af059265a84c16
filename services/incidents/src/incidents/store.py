"""Triage state in Postgres (migration 0002): loaded per batch for the keys the batch
needs, saved back in the caller's transaction (the consumer's, with its offsets and
outputs; or the scheduler's).

`load` builds each customer's `CustomerState` from (set-based, one query per kind for
the whole batch): the rows the events name (alert identities, devices, sites, windows),
every row due by the batch's time (`due_at <= horizon`: all that `triage.advance` can act
on), the open incidents those alerts, devices and sites can join, and all alerts of
those incidents (which the site rule and resolution count). Rows that are neither named
nor due cannot change in the batch, so they are never read: a customer's size costs
only its own batches. `save` writes back what changed and deletes what the rules
dropped, then recomputes each customer's `wake_at` for the scheduler.

Customers are locked (`FOR UPDATE`, in id order) for the transaction, so the consumer
and the scheduler never interleave on one customer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from incidents.config import TriageConfig
from incidents.outputs import LogRow
from incidents.state import Alert, CustomerState, DeviceBeat, Incident, Tombstone, Window
from incidents.triage import alert_due, beat_due, incident_due, pending_due, silent_fingerprint
from msp_events import Envelope, parse_event
from msp_events.serde import to_json_obj
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    Heartbeat,
    MaintenanceCancelled,
    MaintenanceScheduled,
)

Contract = ContractSnapshot | ContractTerminated


@dataclass
class Wanted:
    """What one customer's part of a batch needs loaded."""

    fingerprints: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    site_devices: set[tuple[str, str]] = field(default_factory=set)
    windows: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    all_pending: bool = False
    latest: datetime | None = None
    earliest: datetime | None = None

    def see(self, at: datetime) -> None:
        self.latest = at if self.latest is None else max(self.latest, at)
        self.earliest = at if self.earliest is None else min(self.earliest, at)

    def name(self, device: str | None, site: str | None, fingerprint: str | None = None) -> None:
        if device is not None:
            self.devices.add(device)
        if site is not None:
            self.sites.add(site)
        if fingerprint is not None:
            self.fingerprints.add(fingerprint)


def wanted(events: Iterable[Envelope]) -> dict[str, Wanted]:
    found: dict[str, Wanted] = {}
    for event in events:
        w = found.setdefault(event.customer_id, Wanted())
        w.see(event.time)
        _name_event(w, event)
    return found


def _name_event(w: Wanted, event: Envelope) -> None:
    data = event.data
    if isinstance(data, ContractSnapshot | ContractTerminated):
        w.all_pending = True
    elif isinstance(data, AlertFiring | AlertResolved):
        w.name(data.device_id, data.site_id, data.source_fingerprint)
        if data.site_id is not None and data.device_id is not None:
            w.site_devices.add((data.site_id, data.device_id))
    elif isinstance(data, Heartbeat):
        w.name(data.device_id, data.site_id, silent_fingerprint(data.device_id))
        if data.site_id is not None:
            w.site_devices.add((data.site_id, data.device_id))
    elif isinstance(data, MaintenanceScheduled | MaintenanceCancelled):
        w.windows.add(data.window_id)


@dataclass
class Batch:
    """The loaded states of a batch's customers, and what they were when loaded."""

    states: dict[str, CustomerState]
    contracts: dict[str, Any | None]
    """The latest contract event per customer (JSON), as stored or replaced in the batch."""
    loaded: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    """(kind, customer, key) -> the row's JSON as loaded: what `save` compares against."""
    replaced: set[str] = field(default_factory=set)
    """Customers whose contract an event of the batch replaced."""
    _parsed: dict[str, tuple[Any, Contract]] = field(default_factory=dict)

    def contract(self, customer: str) -> Contract | None:
        raw = self.contracts.get(customer)
        if raw is None:
            return None
        cached = self._parsed.get(customer)
        if cached is not None and cached[0] is raw:
            return cached[1]
        data = parse_event(raw).data
        assert isinstance(data, ContractSnapshot | ContractTerminated)
        self._parsed[customer] = (raw, data)
        return data

    def set_contract(self, event: Envelope) -> None:
        self.contracts[event.customer_id] = to_json_obj(event)
        self.replaced.add(event.customer_id)


def _pairs(items: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    listed = sorted(set(items))
    return [a for a, _ in listed], [b for _, b in listed]


# -- locking ------------------------------------------------------------------------


async def lock_customers(
    conn: asyncpg.Connection, customers: Sequence[str]
) -> list[asyncpg.Record]:
    """Create and lock the customers' rows (id order: two transactions never deadlock)."""
    ids = sorted(set(customers))
    await conn.execute(
        """INSERT INTO triage_customers (customer_id) SELECT unnest($1::text[])
           ON CONFLICT DO NOTHING""",
        ids,
    )
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT customer_id, clock, contract::text AS contract FROM triage_customers
           WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE""",
        ids,
    )
    return rows


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[str]:
    """Lock up to `limit` customers with something due by `now` that have not reached
    `now` yet; customers the consumer holds are skipped (taken next round)."""
    rows = await conn.fetch(
        """SELECT customer_id FROM triage_customers
           WHERE wake_at <= $1 AND (clock IS NULL OR clock < $1)
           ORDER BY wake_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [r["customer_id"] for r in rows]


async def park(conn: asyncpg.Connection, customer: str) -> None:
    """The scheduler could not advance this customer: wait for its next event."""
    await conn.execute(
        "UPDATE triage_customers SET wake_at = NULL WHERE customer_id = $1", customer
    )


# -- loading ------------------------------------------------------------------------


async def load(
    conn: asyncpg.Connection,
    *,
    events: Sequence[Envelope] = (),
    advance: Sequence[str] = (),
    now: datetime | None = None,
) -> Batch:
    """Lock and load the state the batch's `events` can touch, or what advancing the
    customers in `advance` to `now` can (the scheduler)."""
    wants = wanted(events)
    for customer in advance:
        assert now is not None
        wants.setdefault(customer, Wanted()).see(now)
    rows = await lock_customers(conn, list(wants))
    batch = Batch(
        states={r["customer_id"]: CustomerState(customer_id=r["customer_id"]) for r in rows},
        contracts={
            r["customer_id"]: json.loads(r["contract"]) if r["contract"] else None for r in rows
        },
    )
    horizon: dict[str, datetime] = {}
    since: dict[str, datetime] = {}
    for r in rows:
        c, w = r["customer_id"], wants[r["customer_id"]]
        state = batch.states[c]
        state.clock = r["clock"]
        assert w.latest is not None and w.earliest is not None
        # everything due up to the latest time the batch can bring this customer to
        horizon[c] = max(w.latest, r["clock"]) if r["clock"] else w.latest
        # windows that end before both the batch's events and the clock matter no more
        # (a pending re-evaluation is due after the clock: it would have run already)
        since[c] = min(w.earliest, r["clock"]) if r["clock"] else w.earliest
    await _load_pending(conn, batch, wants, horizon)
    await _load_beats(conn, batch, wants, horizon)
    await _load_alerts(conn, batch, wants, horizon)
    await _load_incidents(conn, batch, wants, horizon)
    await _load_tombstones(conn, batch, wants, horizon)
    await _load_windows(conn, batch, since)
    await _load_sites(conn, batch, wants)
    return batch


def _due_args(horizon: dict[str, datetime]) -> tuple[list[str], list[datetime]]:
    return list(horizon), list(horizon.values())


DUE = "r.due_at <= h.t"
"""A row due by the customer's horizon `h.t` (`_fetch_bodies`)."""


async def _fetch_bodies(
    conn: asyncpg.Connection,
    table: str,
    key: str,
    *,
    by: Mapping[str, Iterable[tuple[str, str]]] | None = None,
    due: tuple[str, dict[str, datetime]] | None = None,
) -> list[asyncpg.Record]:
    """Rows (customer_id, `key`, body) of a state table `r` in one query: those whose
    (customer_id, column) is one of the pairs `by[column]`, and those whose customer's
    time `h.t` meets the condition `due[0]` (`due[1]`: the time per customer). A row
    may come twice (once per way it matched): loading it twice is harmless."""
    parts: list[str] = []
    args: list[list[str] | list[datetime]] = []
    head = f"SELECT r.customer_id, r.{key}, r.body::text AS body FROM {table} r"
    for column, pairs in (by or {}).items():
        n = len(args)
        parts.append(
            f"{head} JOIN unnest(${n + 1}::text[], ${n + 2}::text[]) k(c, v)"
            f" ON r.customer_id = k.c AND r.{column} = k.v"
        )
        args += _pairs(pairs)
    if due is not None:
        n = len(args)
        parts.append(
            f"{head} JOIN unnest(${n + 1}::text[], ${n + 2}::timestamptz[]) h(c, t)"
            f" ON r.customer_id = h.c AND {due[0]}"
        )
        args += _due_args(due[1])
    return list(await conn.fetch(" UNION ALL ".join(parts), *args))


def _keep(batch: Batch, kind: str, customer: str, key: str, raw: str) -> Any:
    obj = json.loads(raw)
    batch.loaded[(kind, customer, key)] = obj
    return obj


async def _load_pending(
    conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted], horizon: dict[str, datetime]
) -> None:
    everything = [c for c, w in wants.items() if w.all_pending]
    rows = await conn.fetch(
        """SELECT customer_id, event_id, body::text AS body, seq FROM triage_pending
           WHERE customer_id = ANY($1::text[])
           UNION ALL
           SELECT p.customer_id, p.event_id, p.body::text, p.seq FROM triage_pending p
           JOIN unnest($2::text[], $3::timestamptz[]) h(c, t)
             ON p.customer_id = h.c AND p.due_at <= h.t
           WHERE NOT p.customer_id = ANY($1::text[])
           ORDER BY seq""",
        everything,
        *_due_args(horizon),
    )
    for r in rows:
        c = r["customer_id"]
        obj = _keep(batch, "pending", c, r["event_id"], r["body"])
        batch.states[c].pending.append(obj)
        _name_event(wants[c], parse_event(obj))  # applied when the contract comes


async def _load_beats(
    conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted], horizon: dict[str, datetime]
) -> None:
    rows = await _fetch_bodies(
        conn,
        "triage_beats",
        "device_id",
        by={"device_id": ((c, d) for c, w in wants.items() for d in w.devices)},
        due=(DUE, horizon),
    )
    for r in rows:
        c, device = r["customer_id"], r["device_id"]
        state = batch.states[c]
        if device in state.beats:
            continue
        beat = DeviceBeat.model_validate(_keep(batch, "beat", c, device, r["body"]))
        state.beats[device] = beat
        # a silent device raises an alert that may join an incident of its site
        wants[c].name(device, beat.site_id, silent_fingerprint(device))


async def _load_alerts(
    conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted], horizon: dict[str, datetime]
) -> None:
    rows = await _fetch_bodies(
        conn,
        "triage_alerts",
        "fingerprint",
        by={
            "fingerprint": ((c, f) for c, w in wants.items() for f in w.fingerprints),
            "suppressed_by": ((c, s) for c, w in wants.items() for s in w.windows),
        },
        due=(DUE, horizon),
    )
    for r in rows:
        c = r["customer_id"]
        alert = _add_alert(batch, c, r["fingerprint"], r["body"])
        if alert is not None:
            wants[c].name(alert.device_id, alert.site_id)
            if alert.incident_id is not None:
                wants[c].incidents.add(alert.incident_id)


def _add_alert(batch: Batch, customer: str, fingerprint: str, body: str) -> Alert | None:
    state = batch.states[customer]
    if fingerprint in state.alerts:
        return None
    alert = Alert.model_validate(_keep(batch, "alert", customer, fingerprint, body))
    state.alerts[fingerprint] = alert
    return alert


async def _load_incidents(
    conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted], horizon: dict[str, datetime]
) -> None:
    """Open incidents the batch can touch (in opening order: correlation takes the
    first match), then every alert of theirs not loaded yet."""
    rows = await conn.fetch(
        """WITH k AS (
               SELECT i.customer_id, i.incident_id FROM triage_incidents i
               JOIN unnest($1::text[], $2::text[]) k(c, i) ON i.customer_id = k.c
                   AND i.incident_id = k.i
               UNION
               SELECT i.customer_id, i.incident_id FROM triage_incidents i
               JOIN unnest($3::text[], $4::text[]) s(c, s) ON i.customer_id = s.c
                   AND i.site_id = s.s
               UNION
               SELECT d.customer_id, d.incident_id FROM triage_incident_devices d
               JOIN unnest($5::text[], $6::text[]) v(c, d) ON d.customer_id = v.c
                   AND d.device_id = v.d
               UNION
               SELECT i.customer_id, i.incident_id FROM triage_incidents i
               JOIN unnest($7::text[], $8::timestamptz[]) h(c, t)
                   ON i.customer_id = h.c AND i.due_at <= h.t)
           SELECT i.customer_id, i.incident_id, i.body::text AS body FROM triage_incidents i
           JOIN k USING (customer_id, incident_id) ORDER BY i.seq""",
        *_pairs((c, i) for c, w in wants.items() for i in w.incidents),
        *_pairs((c, s) for c, w in wants.items() for s in w.sites),
        *_pairs((c, d) for c, w in wants.items() for d in w.devices),
        *_due_args(horizon),
    )
    for r in rows:
        c = r["customer_id"]
        inc = Incident.model_validate(_keep(batch, "incident", c, r["incident_id"], r["body"]))
        batch.states[c].incidents[inc.incident_id] = inc
        if inc.site_id is not None:
            wants[c].sites.add(inc.site_id)
    members = await conn.fetch(
        """SELECT a.customer_id, a.fingerprint, a.body::text AS body FROM triage_alerts a
           JOIN unnest($1::text[], $2::text[]) k(c, i)
             ON a.customer_id = k.c AND a.incident_id = k.i""",
        *_pairs((c, i) for c, s in batch.states.items() for i in s.incidents),
    )
    for r in members:
        _add_alert(batch, r["customer_id"], r["fingerprint"], r["body"])


async def _load_tombstones(
    conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted], horizon: dict[str, datetime]
) -> None:
    rows = await _fetch_bodies(
        conn,
        "triage_tombstones",
        "fingerprint",
        by={"fingerprint": ((c, f) for c, w in wants.items() for f in w.fingerprints)},
        due=(DUE, horizon),
    )
    for r in rows:
        c, fp = r["customer_id"], r["fingerprint"]
        obj = _keep(batch, "tombstone", c, fp, r["body"])
        batch.states[c].tombstones[fp] = Tombstone.model_validate(obj)


async def _load_windows(conn: asyncpg.Connection, batch: Batch, since: dict[str, datetime]) -> None:
    # windows still open at the customer's earliest time (`since`), in id order
    rows = await _fetch_bodies(conn, "triage_windows", "window_id", due=("r.ends_at > h.t", since))
    rows = sorted(rows, key=lambda r: (r["customer_id"], r["window_id"]))
    for r in rows:
        c, window_id = r["customer_id"], r["window_id"]
        obj = _keep(batch, "window", c, window_id, r["body"])
        batch.states[c].windows[window_id] = Window.model_validate(obj)


async def _load_sites(conn: asyncpg.Connection, batch: Batch, wants: dict[str, Wanted]) -> None:
    counts = await conn.fetch(
        """SELECT s.customer_id, s.site_id, s.known FROM triage_sites s
           JOIN unnest($1::text[], $2::text[]) k(c, s)
             ON s.customer_id = k.c AND s.site_id = k.s""",
        *_pairs((c, s) for c, w in wants.items() for s in w.sites),
    )
    for r in counts:
        batch.states[r["customer_id"]].site_known[r["site_id"]] = r["known"]
    pairs = [(c, site, device) for c, w in wants.items() for site, device in w.site_devices]
    known = await conn.fetch(
        """SELECT d.customer_id, d.site_id, d.device_id FROM triage_site_devices d
           JOIN unnest($1::text[], $2::text[], $3::text[]) k(c, s, d)
             ON (d.customer_id, d.site_id, d.device_id) = (k.c, k.s, k.d)""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        [p[2] for p in pairs],
    )
    for r in known:
        state = batch.states[r["customer_id"]]
        state.site_devices.setdefault(r["site_id"], []).append(r["device_id"])
        batch.loaded[("site_device", r["customer_id"], f"{r['site_id']}\x00{r['device_id']}")] = 1


# -- saving -------------------------------------------------------------------------


def released(batch: Batch, *, skip: Iterable[str] = ()) -> list[str]:
    """Ids of the waiting events that no longer wait (applied, expired, dead-lettered),
    except those of the customers in `skip` (not saved)."""
    skipped = set(skip)
    present = {
        c: {str(o["id"]) for o in s.pending} for c, s in batch.states.items() if c not in skipped
    }
    return [key for _, key in _gone(batch, "pending", present)]


def _changed(batch: Batch, kind: str, customer: str, key: str, model: BaseModel) -> str | None:
    """The row's new JSON if it differs from what was loaded (None: unchanged). A row
    not loaded is new: serialised in one step (jsonb keeps the same value either way)."""
    loaded = batch.loaded.get((kind, customer, key))
    if loaded is None:
        return model.model_dump_json()
    obj = model.model_dump(mode="json")
    if loaded == obj:
        return None
    return json.dumps(obj)


def _gone(batch: Batch, kind: str, present: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [
        (c, key)
        for (k, c, key) in batch.loaded
        if k == kind and c in present and key not in present[c]
    ]


async def save(
    conn: asyncpg.Connection,
    batch: Batch,
    cfg: TriageConfig,
    *,
    skip: Iterable[str] = (),
) -> None:
    """Write back the batch's states (except the customers in `skip`, left as they were)."""
    skipped = set(skip)
    states = {c: s for c, s in batch.states.items() if c not in skipped}
    if not states:
        return
    await conn.execute(
        """UPDATE triage_customers c SET clock = k.clock,
               contract = COALESCE(k.contract::jsonb, c.contract)
           FROM unnest($1::text[], $2::timestamptz[], $3::text[]) k(id, clock, contract)
           WHERE c.customer_id = k.id""",
        list(states),
        [s.clock for s in states.values()],
        [json.dumps(batch.contracts[c]) if c in batch.replaced else None for c in states],
    )
    await _save_alerts(conn, batch, states, cfg)
    await _save_incidents(conn, batch, states, cfg)
    await _save_simple(
        conn,
        batch,
        "tombstone",
        "triage_tombstones",
        "fingerprint",
        {c: {fp: (t, t.expires_at) for fp, t in s.tombstones.items()} for c, s in states.items()},
    )
    await _save_simple(
        conn,
        batch,
        "beat",
        "triage_beats",
        "device_id",
        {c: {d: (b, beat_due(b, cfg)) for d, b in s.beats.items()} for c, s in states.items()},
    )
    await _save_simple(
        conn,
        batch,
        "window",
        "triage_windows",
        "window_id",
        {c: {i: (w, w.ends_at) for i, w in s.windows.items()} for c, s in states.items()},
        due_column="ends_at",
    )
    await _save_pending(conn, batch, states, cfg)
    await _save_sites(conn, batch, states)
    await conn.execute(
        """UPDATE triage_customers c SET wake_at = LEAST(
               (SELECT min(due_at) FROM triage_alerts x WHERE x.customer_id = c.customer_id),
               (SELECT min(due_at) FROM triage_incidents x WHERE x.customer_id = c.customer_id),
               (SELECT min(due_at) FROM triage_tombstones x WHERE x.customer_id = c.customer_id),
               (SELECT min(due_at) FROM triage_beats x WHERE x.customer_id = c.customer_id),
               (SELECT min(due_at) FROM triage_pending x WHERE x.customer_id = c.customer_id))
           WHERE c.customer_id = ANY($1::text[])""",
        list(states),
    )


async def _delete(
    conn: asyncpg.Connection, table: str, key: str, gone: list[tuple[str, str]]
) -> None:
    if gone:
        await conn.execute(
            f"""DELETE FROM {table} t USING unnest($1::text[], $2::text[]) k(c, x)
                WHERE t.customer_id = k.c AND t.{key} = k.x""",
            *_pairs(gone),
        )


async def _save_alerts(
    conn: asyncpg.Connection, batch: Batch, states: dict[str, CustomerState], cfg: TriageConfig
) -> None:
    rows = []
    for c, s in states.items():
        for fp, a in s.alerts.items():
            body = _changed(batch, "alert", c, fp, a)
            if body is not None:
                due = alert_due(a, cfg, incident_open=a.incident_id in s.incidents)
                rows.append(
                    (c, fp, a.incident_id, a.suppressed_by, a.device_id, a.site_id, due, body)
                )
    if rows:
        await conn.execute(
            """INSERT INTO triage_alerts (customer_id, fingerprint, incident_id, suppressed_by,
                   device_id, site_id, due_at, body)
               SELECT c, f, i, s, d, si, due, b::jsonb FROM unnest($1::text[], $2::text[],
                   $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
                   AS r(c, f, i, s, d, si, due, b)
               ON CONFLICT (customer_id, fingerprint) DO UPDATE SET
                   incident_id = EXCLUDED.incident_id, suppressed_by = EXCLUDED.suppressed_by,
                   device_id = EXCLUDED.device_id, site_id = EXCLUDED.site_id,
                   due_at = EXCLUDED.due_at, body = EXCLUDED.body""",
            *[list(col) for col in zip(*rows, strict=True)],
        )
    present = {c: set(s.alerts) for c, s in states.items()}
    await _delete(conn, "triage_alerts", "fingerprint", _gone(batch, "alert", present))


async def _save_incidents(
    conn: asyncpg.Connection, batch: Batch, states: dict[str, CustomerState], cfg: TriageConfig
) -> None:
    rows: list[tuple[str, str, str | None, datetime | None, str]] = []
    devices: list[tuple[str, str, str]] = []
    for c, s in states.items():
        for incident_id, inc in s.incidents.items():  # opening order: seq follows it
            body = _changed(batch, "incident", c, incident_id, inc)
            if body is not None:
                rows.append((c, incident_id, inc.site_id, incident_due(inc, cfg), body))
                devices.extend((c, d, incident_id) for d in inc.device_ids)
    if rows:
        await conn.execute(
            """INSERT INTO triage_incidents (customer_id, incident_id, site_id, due_at, body)
               SELECT c, i, s, due, b::jsonb FROM unnest($1::text[], $2::text[], $3::text[],
                   $4::timestamptz[], $5::text[]) WITH ORDINALITY AS r(c, i, s, due, b, n)
               ORDER BY n
               ON CONFLICT (customer_id, incident_id) DO UPDATE SET site_id = EXCLUDED.site_id,
                   due_at = EXCLUDED.due_at, body = EXCLUDED.body""",
            *[list(col) for col in zip(*rows, strict=True)],
        )
    if devices:
        await conn.execute(
            """INSERT INTO triage_incident_devices (customer_id, device_id, incident_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING""",
            *[list(col) for col in zip(*devices, strict=True)],
        )
    present = {c: set(s.incidents) for c, s in states.items()}
    gone = _gone(batch, "incident", present)
    await _delete(conn, "triage_incidents", "incident_id", gone)
    await _delete(conn, "triage_incident_devices", "incident_id", gone)


async def _save_simple(
    conn: asyncpg.Connection,
    batch: Batch,
    kind: str,
    table: str,
    key: str,
    items: dict[str, dict[str, tuple[BaseModel, datetime | None]]],
    *,
    due_column: str = "due_at",
) -> None:
    rows = []
    for c, by_key in items.items():
        for k, (model, due) in by_key.items():
            body = _changed(batch, kind, c, k, model)
            if body is not None:
                rows.append((c, k, due, body))
    if rows:
        await conn.execute(
            f"""INSERT INTO {table} (customer_id, {key}, {due_column}, body)
                SELECT c, k, due, b::jsonb FROM unnest($1::text[], $2::text[],
                    $3::timestamptz[], $4::text[]) AS r(c, k, due, b)
                ON CONFLICT (customer_id, {key}) DO UPDATE SET
                    {due_column} = EXCLUDED.{due_column}, body = EXCLUDED.body""",
            *[list(col) for col in zip(*rows, strict=True)],
        )
    present = {c: set(by_key) for c, by_key in items.items()}
    await _delete(conn, table, key, _gone(batch, kind, present))


async def _save_pending(
    conn: asyncpg.Connection, batch: Batch, states: dict[str, CustomerState], cfg: TriageConfig
) -> None:
    rows = []
    present: dict[str, set[str]] = {}
    for c, s in states.items():
        present[c] = set()
        for obj in s.pending:  # in arrival order: seq follows it
            event_id = str(obj["id"])
            present[c].add(event_id)
            if ("pending", c, event_id) not in batch.loaded:
                rows.append((c, event_id, pending_due(obj, cfg), json.dumps(obj)))
    if rows:
        await conn.execute(
            """INSERT INTO triage_pending (customer_id, event_id, due_at, body)
               SELECT c, e, due, b::jsonb FROM unnest($1::text[], $2::text[],
                   $3::timestamptz[], $4::text[]) WITH ORDINALITY AS r(c, e, due, b, n)
               ORDER BY n ON CONFLICT DO NOTHING""",
            *[list(col) for col in zip(*rows, strict=True)],
        )
    await _delete(conn, "triage_pending", "event_id", _gone(batch, "pending", present))


async def _save_sites(
    conn: asyncpg.Connection, batch: Batch, states: dict[str, CustomerState]
) -> None:
    new = [
        (c, site, device)
        for c, s in states.items()
        for site, devices in s.site_devices.items()
        for device in devices
        if ("site_device", c, f"{site}\x00{device}") not in batch.loaded
    ]
    if not new:
        return
    await conn.execute(
        """INSERT INTO triage_site_devices (customer_id, site_id, device_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING""",
        *[list(col) for col in zip(*new, strict=True)],
    )
    counts = sorted({(c, site) for c, site, _ in new})
    await conn.execute(
        """INSERT INTO triage_sites (customer_id, site_id, known)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
           ON CONFLICT (customer_id, site_id) DO UPDATE SET known = EXCLUDED.known""",
        [c for c, _ in counts],
        [site for _, site in counts],
        [states[c].known_devices(site) for c, site in counts],
    )


# -- the triage log -----------------------------------------------------------------


async def record_log(conn: asyncpg.Connection, log: Sequence[LogRow]) -> None:
    """What happened to each monitoring event. One row per event: the first outcome is
    the truth, except "pending", which the contract's arrival turns into the real one."""
    if not log:
        return
    rows = _last_per_id(log)
    await conn.execute(
        """INSERT INTO triage_log (event_id, customer_id, fingerprint, outcome,
               reason, incident_id, at, check_kind, severity, device_id, site_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
               $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[],
               $10::text[], $11::text[])
           ON CONFLICT (event_id) DO UPDATE SET outcome = EXCLUDED.outcome,
               reason = EXCLUDED.reason, incident_id = EXCLUDED.incident_id,
               check_kind = EXCLUDED.check_kind, severity = EXCLUDED.severity,
               device_id = EXCLUDED.device_id, site_id = EXCLUDED.site_id
           WHERE triage_log.outcome = 'pending'""",
        *[list(column) for column in zip(*(_row(r) for r in rows), strict=True)],
    )


def _row(r: LogRow) -> tuple[object, ...]:
    return (
        r.event_id,
        r.customer_id,
        r.fingerprint,
        r.outcome,
        r.reason,
        r.incident_id,
        r.at,
        r.check_kind,
        r.severity,
        r.device_id,
        r.site_id,
    )


def _last_per_id(log: Sequence[LogRow]) -> list[LogRow]:
    final: dict[str, LogRow] = {}
    for row in log:
        seen = final.get(row.event_id)
        if seen is None or seen.outcome == "pending":
            final[row.event_id] = row
    return list(final.values())
