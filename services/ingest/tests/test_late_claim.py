"""A claim's INSERT that commits after ingest gave up on it (a frozen Postgres answers
late): the request was told "nothing was accepted", and a retry is accepted at once
(not "outcome unknown" for the orphan grace) and published exactly once.

Reproduced deterministically with a TCP proxy between ingest and the session's
Postgres that holds what ingest sends on its open connections (a stalled network or
host): the INSERT reaches Postgres, and commits, only after ingest's deadline passed.
Only statement executions are held: asyncpg's cancel after the deadline passes and
finds the backend idle (nothing to cancel)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from ingest_testkit import Ingest, make_settings
from prometheus_client import REGISTRY
from test_truth import auth, heartbeat, ids_on

from ingest.runtime import IngestRuntime, serving_app
from msp_devstack.testkit import wait_for_async
from msp_events.serde import to_json_obj
from msp_events.topics import MONITORING

pytestmark = pytest.mark.integration


def executes(data: bytes) -> bool:
    """asyncpg runs a prepared statement as Bind+Execute+Sync in one write (after a
    Parse round trip for a statement not cached on the connection): that is what is
    held, so the statement reaches Postgres whole once released, whichever connection
    and whatever the cache. Start-ups, cancels and the rest pass (unless queued
    behind a held execution)."""
    return data[:1] == b"B"


class HoldingProxy:
    """Forwards TCP to Postgres; while not `flowing`, the queries clients send wait in
    the proxy (in order, also past the client closing its connection)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.flowing.set()
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        for task in (
            asyncio.create_task(self._pump(client_r, server_w, held=True)),
            asyncio.create_task(self._pump(server_r, client_w, held=False)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, held: bool
    ) -> None:
        try:
            while data := await source.read(65536):
                if held and executes(data):
                    await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            if held:
                await self.flowing.wait()  # a closed client's last query still arrives
            sink.close()


@pytest.fixture
async def ingest_via_proxy(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    schema: str,
    prepared: asyncpg.Connection,
) -> AsyncIterator[tuple[Ingest, HoldingProxy]]:
    url = urlsplit(database_url)
    assert url.hostname is not None and url.port is not None
    proxy = HoldingProxy(url.hostname, url.port)
    port = await proxy.start()
    netloc = url.netloc.rsplit(":", 1)[0] + f":{port}"
    via_proxy = urlunsplit(url._replace(netloc=netloc))
    settings = make_settings(
        kafka_bootstrap,
        via_proxy,
        namespace,
        schema,
        auth_cache_ttl_s=300,  # the key lookup is answered from the cache while held
        accept_timeout_s=10,
        db_timeout_s=1,
    )
    runtime = IngestRuntime(settings)
    await runtime.start()
    transport = httpx.ASGITransport(app=serving_app(runtime), raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://ingest")
    try:
        yield Ingest(client, runtime, prepared, kafka_bootstrap, namespace), proxy
    finally:
        await client.aclose()
        proxy.flowing.set()
        await runtime.stop()
        await proxy.stop()


def abandoned_freed() -> float:
    value = REGISTRY.get_sample_value("msp_ingest_doubts_resolved_total", {"outcome": "abandoned"})
    return value or 0.0


async def test_a_claim_committed_after_the_give_up_is_retried_at_once_and_once(
    ingest_via_proxy: tuple[Ingest, HoldingProxy],
) -> None:
    ingest, proxy = ingest_via_proxy
    key = await ingest.key("cust-a")
    warm = to_json_obj(heartbeat("cust-a", "hb-warm"))  # caches the key
    r = await ingest.client.post("/v1/events", json=warm, headers=auth(key))
    assert r.status_code == 202, r.text
    before = abandoned_freed()

    late = to_json_obj(heartbeat("cust-a", "hb-late"))
    proxy.flowing.clear()
    try:
        r = await ingest.client.post("/v1/events", json=late, headers=auth(key))
    finally:
        proxy.flowing.set()  # the held INSERT now reaches Postgres and commits
    assert r.status_code == 503 and "nothing was accepted" in r.json()["message"], r.text
    thawed = time.monotonic()

    async def committed_late() -> bool:  # the given-up attempt's row, or its freeing
        row = await ingest.db.fetchrow(
            "SELECT state, attempt FROM accepted_events WHERE event_id = 'hb-late'"
        )
        return abandoned_freed() > before or (row is not None and row["attempt"] is not None)

    await wait_for_async(committed_late, timeout=30, interval=0.1, message="late INSERT")

    answers: list[int] = []

    async def accepted() -> bool:
        r = await ingest.client.post("/v1/events", json=late, headers=auth(key))
        answers.append(r.status_code)
        assert r.status_code in (202, 503), r.text
        return r.status_code == 202

    # far below the orphan grace (60 s), which the retry waited out before
    await wait_for_async(accepted, timeout=15, interval=0.2, message="retry accepted")
    print(f"retry accepted {time.monotonic() - thawed:.2f} s after the thaw; answers {answers}")
    assert abandoned_freed() == before + 1  # the late row was freed or taken over, once
    assert await ids_on(ingest, MONITORING.name) == Counter({"hb-warm": 1, "hb-late": 1})
    state = await ingest.db.fetchval("SELECT state FROM accepted_events WHERE event_id = 'hb-late'")
    assert state == "published"

    # No retry here: the resolver alone frees the late row (what lets a retry on
    # another instance, which cannot take it over, be accepted too)
    other = to_json_obj(heartbeat("cust-a", "hb-other"))
    proxy.flowing.clear()
    try:
        r = await ingest.client.post("/v1/events", json=other, headers=auth(key))
    finally:
        proxy.flowing.set()
    assert r.status_code == 503 and "nothing was accepted" in r.json()["message"], r.text

    await wait_for_async(
        lambda: abandoned_freed() == before + 2, timeout=15, message="late row freed"
    )
    count = "SELECT count(*) FROM accepted_events WHERE event_id = 'hb-other'"
    assert await ingest.db.fetchval(count) == 0
    r = await ingest.client.post("/v1/events", json=other, headers=auth(key))
    assert r.status_code == 202 and r.json()["published"] == ["hb-other"], r.text
    assert await ids_on(ingest, MONITORING.name) == Counter(
        {"hb-warm": 1, "hb-late": 1, "hb-other": 1}
    )
