"""The app factory's ops endpoints against a real runtime (Postgres + Kafka)."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter

from msp_access.dependency import declared, require
from msp_access.principal import Principal
from msp_access.roles import Permission
from msp_devstack.access import metrics_headers
from msp_plumbing.app import create_app
from msp_plumbing.migrations import migrate
from msp_plumbing.runtime import ServiceRuntime
from msp_plumbing.settings import ServiceSettings


def make_settings(kafka: str, db: str, schema: str, namespace: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="apptest",
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        DATABASE_URL=db,
        db_schema=schema,
        topic_namespace=namespace,
    )


@pytest.mark.integration
async def test_health_ready_metrics(
    kafka_bootstrap: str, database_url: str, schema: str, namespace: str
) -> None:
    await migrate(database_url, schema=schema)
    runtime = ServiceRuntime(make_settings(kafka_bootstrap, database_url, schema, namespace))
    app = create_app(runtime=runtime, title="apptest")
    await runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok", "background": "ok"}
            assert (await client.get("/metrics")).status_code == 401, "needs a credential"
            metrics = await client.get("/metrics", headers=metrics_headers())
            assert metrics.status_code == 200
            assert "msp_outbox_published_total" in metrics.text
            assert "msp_consumer_records_total" in metrics.text
    finally:
        await runtime.stop()


def test_a_route_without_a_permission_is_refused_at_build_time() -> None:
    """Default deny: a new route that forgot `require(...)` (even one hidden from
    OpenAPI) stops the service from being built, naming the route."""
    runtime = ServiceRuntime(make_settings("127.0.0.1:1", "postgresql://x@127.0.0.1:1/x", "s", ""))
    router = APIRouter()

    @router.get("/v1/declared")
    async def declared(_p: Annotated[Principal, require(Permission.SLA_READ)]) -> dict[str, str]:
        return {}

    assert create_app(runtime=runtime, title="apptest", routers=[router])

    @router.post("/v1/forgotten", include_in_schema=False)
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(
        ValueError, match=r"apptest: routes without a permission.*POST /v1/forgotten"
    ):
        create_app(runtime=runtime, title="apptest", routers=[router])


async def test_not_ready_names_the_dependency() -> None:
    runtime = ServiceRuntime(make_settings("127.0.0.1:1", "postgresql://x@127.0.0.1:1/x", "s", ""))
    app = create_app(runtime=runtime, title="apptest")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = await c.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["postgres"].startswith("error") and checks["kafka"].startswith("error")


async def test_dead_background_task_fails_liveness() -> None:
    runtime = ServiceRuntime(make_settings("127.0.0.1:1", "postgresql://x@127.0.0.1:1/x", "s", ""))
    runtime.failure = RuntimeError("consumer loop died")
    app = create_app(runtime=runtime, title="apptest")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).status_code == 503


async def test_a_nul_byte_in_a_path_or_query_parameter_is_a_422_naming_it() -> None:
    """Every service's routes get the edge check (`edge.reject_nul_bytes`)."""
    from fastapi import APIRouter

    router = APIRouter()
    reached: list[str] = []

    # `declared`: a permission on record (create_app refuses a route without one) that
    # resolves nothing, so this test sees the edge check alone
    @router.get("/things/{thing_id}", dependencies=[declared(Permission.SLA_READ)])
    async def thing(thing_id: str, owner: str | None = None) -> dict[str, str]:
        reached.append(thing_id)
        return {"thing_id": thing_id}

    runtime = ServiceRuntime(make_settings("127.0.0.1:1", "postgresql://x@127.0.0.1:1/x", "s", ""))
    app = create_app(runtime=runtime, title="apptest", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        in_path = await c.get("/things/a%00b")
        in_query = await c.get("/things/a", params={"owner": "x\x00y"})
        fine = await c.get("/things/a", params={"owner": "x"})
    assert in_path.status_code == 422, in_path.text
    assert [e["pointer"] for e in in_path.json()["errors"]] == ["/path/thing_id"]
    assert in_query.status_code == 422, in_query.text
    assert [e["pointer"] for e in in_query.json()["errors"]] == ["/query/owner"]
    assert "NUL" in in_query.json()["errors"][0]["message"]
    assert fine.status_code == 200 and reached == ["a"]
