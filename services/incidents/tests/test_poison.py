"""Bad and big input on the real broker and Postgres: one poison alert stops nothing,
and one customer's size is that customer's business alone."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from incidents_factory import contract, firing, t
from incidents_harness import Service, running

from msp_devstack.testkit import produce, wait_for_async
from msp_events import encode
from msp_events.topics import PARTITIONS
from msp_plumbing.outbox import partition_for

pytestmark = pytest.mark.integration

# An alert timeout that overflows the calendar for an alert dated 2099 (inside the
# contract's time bounds) but not for 2026: triage of such an alert raises.
OVERFLOWING_TIMEOUT_S = int(7950 * 365.25 * 86400)


@pytest.fixture(scope="module")
async def service(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Service]:
    async with running(
        kafka_bootstrap, database_url, alert_timeout_s=OVERFLOWING_TIMEOUT_S
    ) as started:
        yield started


def same_partition(anchor: str, prefix: str, n: int) -> list[str]:
    """`n` customer ids whose records share `anchor`'s partition (so they share its
    batches: the poison record sits among their alerts)."""
    target = partition_for(anchor.encode(), PARTITIONS)
    found = [
        c
        for c in (f"{prefix}-{i}" for i in range(1000))
        if partition_for(c.encode(), PARTITIONS) == target
    ]
    return found[:n]


async def test_poison_alerts_are_dead_lettered_alone_and_triage_goes_on(
    service: Service,
) -> None:
    poisoned = "poison-co"
    others = same_partition(poisoned, "neighbour", 3)
    for c in [poisoned, *others]:
        await service.contract(contract(c))
    # dated 9999-12-31, written straight to the canonical topic: outside the contract's
    # time bounds, it does not decode
    far = encode(firing(poisoned, "far-future", t(0), device="srv-far", id="poison-9999"))
    value = json.loads(far.value)
    value["time"] = value["data"]["starts_at"] = "9999-12-31T23:59:59Z"
    # dated 2099, schema-valid: its expiry overflows the calendar, triage raises
    late = firing(poisoned, "late", datetime(2099, 12, 31, tzinfo=UTC), device="s", id="p-2099")
    before = [firing(c, "disk", t(0), device=f"{c}-srv", kind="disk_space") for c in others]
    after = [firing(c, "cpu", t(60), device=f"{c}-web", kind="cpu") for c in [*others, poisoned]]
    await service.send(before)
    await produce(
        service.kafka,
        f"{service.ns}msp.monitoring.v1",
        raw=[(far.key, json.dumps(value).encode()), (far.key, encode(late).value)],
    )
    await service.send(after)

    for c in others:  # opened by the first, the second joins it (same site)
        await service.wait_log(c, "correlated")
        assert [r["outcome"] for r in await service.log(c)] == ["opened", "correlated"]
    await service.wait_log(poisoned, "opened")  # its own later alert too
    assert [r["outcome"] for r in await service.log(poisoned)] == ["opened"]

    letters = await service.read_when("msp.deadletter.v1", poisoned, lambda es: len(es) >= 2)
    by_id = {json.loads(e.data.original_value())["id"]: e.data for e in letters}  # type: ignore[attr-defined]
    assert sorted(by_id) == ["p-2099", "poison-9999"], by_id
    assert all(d.consumer_group == f"{service.ns}incidents.triage" for d in by_id.values())  # type: ignore[attr-defined]
    assert "/time" in by_id["poison-9999"].reason  # type: ignore[attr-defined]
    assert by_id["p-2099"].reason.startswith("handler failed: OverflowError")  # type: ignore[attr-defined]
    ready = await service.http.get("/readyz")
    assert ready.status_code == 200, ready.text


BIG = 100_000
PER_SITE = 50


async def produce_fast(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    """A raw producer that does not wait for each record: 100k records in seconds."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


@pytest.mark.timeout(1800)
async def test_a_customer_with_100k_alert_identities_is_triaged_and_stops_no_one(
    service: Service,
) -> None:
    big = "huge-co"
    # another partition: its triage must not wait for the big customer's backlog
    small = next(
        c
        for c in (f"small-{i}" for i in range(100))
        if partition_for(c.encode(), PARTITIONS) != partition_for(big.encode(), PARTITIONS)
    )
    await service.contract(contract(big))
    await service.contract(contract(small))
    alerts = [
        encode(
            firing(
                big,
                f"fp-{i}",
                t(i * 0.01),
                device=f"dev-{i}",
                site=f"site-{i // PER_SITE}",
                id=f"huge-{i}",
            )
        )
        for i in range(BIG)
    ]
    started = time.monotonic()
    await produce_fast(
        service.kafka,
        f"{service.ns}msp.monitoring.v1",
        [(r.key or b"", r.value) for r in alerts],
    )
    produced = time.monotonic()
    await service.send([firing(small, "bk", t(0), device="srv-1", kind="backup_failure")])
    await service.wait_log(small, "opened", within=900)
    small_done = time.monotonic()

    async def big_done() -> int | None:
        n = await service.db.fetchval("SELECT count(*) FROM triage_log WHERE customer_id = $1", big)
        return n if n == BIG else None

    await wait_for_async(big_done, timeout=1500, interval=2, message="100k alerts triaged")
    finished = time.monotonic()
    outcomes = Counter(
        dict(
            await service.db.fetch(
                "SELECT outcome, count(*) FROM triage_log WHERE customer_id = $1 GROUP BY 1", big
            )
        )
    )
    sites = BIG // PER_SITE
    assert outcomes == {"opened": sites, "correlated": BIG - sites}, outcomes
    # state is one row per identity: nothing grows with the customer
    widest = await service.db.fetchval(
        """SELECT max(pg_column_size(body)) FROM (
               SELECT body FROM triage_alerts UNION ALL SELECT body FROM triage_incidents
           ) b"""
    )
    assert widest < 64_000, widest
    assert await service.read("msp.deadletter.v1", big) == []
    print(
        f"\n100k identities: produced in {produced - started:.0f} s; the small customer's "
        f"alert triaged {small_done - produced:.0f} s after; all 100k triaged "
        f"{finished - produced:.0f} s after produced"
    )
