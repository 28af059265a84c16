"""Every route of every service, read from the services' own OpenAPI documents, on a
Fleet whose identity provider is a test issuer (`access_issuer`): only /healthz and
/readyz are open; every other operation declares its permission and security schemes;
no credential and every kind of bad token get 401; a role without the permission gets
403; a customer-scoped caller asking for another tenant's object gets exactly the
answer a missing object gets, and no list shows it another tenant's data.

A route added without `require(...)` (or ingest's `declared(...)`) has no
`x-permission` and answers without a credential: this module fails for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from access_fleet import SERVICES, fleet_for, get_json, seed
from access_issuer import TestIssuer
from access_month import ACME, BETA, INVOICE_AS_OF, PERIOD

from msp_access.roles import ROLE_PERMISSIONS, Permission
from msp_devstack.fleet import Fleet

# The first test starts a Fleet and publishes both tenants' month through it.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
OPEN = {"/healthz", "/readyz"}
PAGERDUTY = {"/v1/integrations/pagerduty", "/v2/enqueue"}
ALL_ROLES = list(ROLE_PERMISSIONS)
INVOICES: dict[str, str] = {}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def permission(self) -> str | None:
        found = self.spec.get("x-permission")
        return str(found) if found is not None else None

    def __str__(self) -> str:
        return f"{self.service} {self.method.upper()} {self.path}"


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str,
    database_url: str,
    route_issuer: TestIssuer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    data = tmp_path_factory.mktemp("routes-fleet")
    with fleet_for(
        kafka=kafka_bootstrap, database_url=database_url, data_dir=data, oidc=route_issuer.env()
    ) as f:
        seed(f)
        run = httpx.post(
            f.url("billing") + "/v1/invoice-runs",
            json={"period": PERIOD, "as_of": INVOICE_AS_OF.isoformat()},
            headers=f.operator_headers(),
            timeout=120,
        )
        assert run.status_code == 200, run.text
        INVOICES.update({o["customer_id"]: o["invoice_id"] for o in run.json()["outcomes"]})
        assert INVOICES.get(BETA), run.text
        yield f


@pytest.fixture(scope="module")
def operations(fleet: Fleet) -> list[Operation]:
    found = []
    for service in SERVICES:
        doc = httpx.get(fleet.url(service) + "/openapi.json", timeout=30).json()
        for path, item in doc["paths"].items():
            for method, spec in item.items():
                found.append(Operation(service, method, path, spec))
    assert len(found) > 20
    return found


def call(fleet: Fleet, op: Operation, headers: dict[str, str], **values: str) -> httpx.Response:
    """`op` with its path parameters and required query parameters filled from
    `values` (a placeholder otherwise) and a body of the right kind."""
    path = re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], "zz-missing"), op.path)
    params = {
        p["name"]: values.get(
            p["name"], PERIOD if p["name"] in ("month", "period") else "zz-missing"
        )
        for p in op.spec.get("parameters", [])
        if p["in"] == "query" and (p.get("required") or p["name"] in values)
    }
    body: Any = None
    if op.method in ("post", "put", "patch"):
        body = BODIES.get(op.path, {})
        if "customer_id" in values and op.path == "/v1/invoice-runs":
            body = {**body, "customer_id": values["customer_id"]}
    return httpx.request(
        op.method.upper(),
        fleet.url(op.service) + path,
        params=params,
        json=body,
        headers=headers,
        timeout=60,
    )


BODIES: dict[str, Any] = {
    "/v1/invoice-runs": {"period": PERIOD, "as_of": INVOICE_AS_OF.isoformat()},
    "/v1/invoices/{invoice_id}/credit-notes": {"line_ids": ["L-1"], "reason": "test"},
    "/v1/line-items/{line_item_id}/reclassify": {"classification": "covered", "reason": "t"},
    "/v1/events": [],
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_only_healthz_and_readyz_are_open_and_every_route_declares_a_permission(
    fleet: Fleet, operations: list[Operation]
) -> None:
    permissions = {p.value for p in Permission}
    undeclared = [str(op) for op in operations if op.path not in OPEN and not op.permission]
    assert undeclared == [], f"routes without a declared permission: {undeclared}"
    for op in operations:
        if op.path in OPEN:
            assert op.permission is None and call(fleet, op, {}).status_code == 200, str(op)
            continue
        assert op.permission in permissions, str(op)
        schemes = {name for requirement in op.spec["security"] for name in requirement}
        assert {"bearer", "apiKey"} <= schemes, f"{op}: {schemes}"
        assert {"401", "403", "422"} <= set(op.spec["responses"]), str(op)
    ingest_doc = httpx.get(fleet.url("ingest") + "/openapi.json").json()
    schemes = ingest_doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["basic"]["scheme"] == "basic", "webhook senders may use Basic auth"


def test_no_credential_and_every_bad_token_get_401(
    fleet: Fleet, operations: list[Operation], route_issuer: TestIssuer
) -> None:
    bad = route_issuer.bad_tokens()
    for op in operations:
        if op.path in OPEN:
            continue
        r = call(fleet, op, {})
        assert r.status_code == 401, f"{op} without a credential: {r.status_code} {r.text}"
        body = r.json()
        if op.path in PAGERDUTY:  # answers as PagerDuty does, by design
            assert body["status"] == "unauthorized", f"{op}: {body}"
        else:
            assert set(body) == {"status", "error", "message", "errors"}, f"{op}: {body}"
            assert body["errors"][0]["pointer"] == "/headers/authorization"
        for reason, token in bad.items():
            r = call(fleet, op, bearer(token))
            assert r.status_code == 401, f"{op} with a token ({reason}): {r.status_code} {r.text}"
        r = call(fleet, op, {"X-API-Key": "mspk_000000000000_not-a-key"})
        assert r.status_code == 401, f"{op} with an unknown key: {r.status_code}"


def test_a_role_without_the_permission_gets_403(
    fleet: Fleet, operations: list[Operation], route_issuer: TestIssuer
) -> None:
    for op in operations:
        if op.path in OPEN:
            continue
        lacking = [r for r in ALL_ROLES if op.permission not in ROLE_PERMISSIONS[r]]
        for roles in ([], lacking):
            r = call(fleet, op, bearer(route_issuer.token(roles=roles)))
            assert r.status_code == 403, f"{op} with roles {roles}: {r.status_code} {r.text}"
        key = _key_with(fleet, tuple(lacking))
        r = call(fleet, op, bearer(key))
        assert r.status_code == 403, f"{op} with an API key of roles {lacking}: {r.status_code}"
        holding = [r for r in ALL_ROLES if op.permission in ROLE_PERMISSIONS[r]]
        r = call(fleet, op, bearer(route_issuer.token(roles=holding)))
        assert r.status_code not in (401, 403), f"{op} with roles {holding}: {r.text}"


_KEYS: dict[tuple[str, ...], str] = {}


def _key_with(fleet: Fleet, roles: tuple[str, ...]) -> str:
    if roles not in _KEYS:
        _KEYS[roles] = fleet.create_api_key(source="lacking", customers=(), extra=_roles(roles))
    return _KEYS[roles]


def _roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    return [a for r in roles for a in ("--role", r)]


def _beta_objects(fleet: Fleet) -> dict[str, str]:
    """Real ids of cust-beta's objects, read as the operator."""
    with httpx.Client(headers=fleet.operator_headers(), timeout=60) as http:
        incidents = get_json(http, fleet.url("incidents") + "/v1/incidents")["items"]
        ledger = get_json(http, fleet.url("billing") + f"/v1/customers/{BETA}/ledger/{PERIOD}")
        held = next(li for li in ledger["line_items"] if li["classification"] == "held_review")
    return {
        "customer_id": BETA,
        "incident_id": next(i["incident_id"] for i in incidents if i["customer_id"] == BETA),
        "invoice_id": INVOICES[BETA],
        "line_item_id": held["line_item_id"],
        "ticket_id": "T-1",
        "period": PERIOD,
    }


MISSING = {
    "customer_id": "cust-nope",
    "incident_id": "inc-nope",
    "invoice_id": "inv-nope",
    "line_item_id": "li-nope",
    "ticket_id": "T-1",
    "period": PERIOD,
}


def _masked(r: httpx.Response, values: dict[str, str]) -> tuple[int, str]:
    text = r.text
    for name in sorted(values, key=lambda n: -len(values[n])):
        if name not in ("period", "ticket_id"):
            text = text.replace(values[name], f"<{name}>")
    return r.status_code, text


def test_another_tenants_object_is_answered_like_a_missing_one(
    fleet: Fleet, operations: list[Operation], route_issuer: TestIssuer
) -> None:
    beta = _beta_objects(fleet)
    # every role, bound to cust-acme: only the tenant rule can hide cust-beta
    acme = bearer(route_issuer.token(roles=ALL_ROLES, customers=[ACME]))
    checked = 0
    for op in operations:
        if op.path in OPEN or op.path in ("/metrics",) or op.service == "ingest":
            continue
        names = set(re.findall(r"\{(\w+)\}", op.path))
        names |= {p["name"] for p in op.spec.get("parameters", []) if p["name"] in beta}
        if op.path == "/v1/invoice-runs":
            names.add("customer_id")
        if not names & {"customer_id", "incident_id", "invoice_id", "line_item_id"}:
            continue
        chosen = {n: beta[n] for n in names if n in beta}
        missing = {n: MISSING[n] for n in names if n in MISSING}
        if "ticket_id" in names:  # T-1 exists for both: the customer_id query tells them apart
            chosen["customer_id"], missing["customer_id"] = BETA, "cust-nope"
        theirs, nothing = call(fleet, op, acme, **chosen), call(fleet, op, acme, **missing)
        assert _masked(theirs, chosen) == _masked(nothing, missing), (
            f"{op}: another tenant's object answered {theirs.status_code} {theirs.text!r}, "
            f"a missing one {nothing.status_code} {nothing.text!r}"
        )
        checked += 1
    assert checked >= 10


def test_lists_reports_and_exports_show_a_tenant_only_its_own(
    fleet: Fleet, operations: list[Operation], route_issuer: TestIssuer
) -> None:
    acme = bearer(route_issuer.token(roles=ALL_ROLES, customers=[ACME]))
    for op in operations:
        if op.method != "get" or op.path in OPEN or op.path == "/metrics":
            continue
        if re.search(r"\{(\w+)\}", op.path):
            continue
        r = call(fleet, op, acme)
        assert r.status_code == 200, f"{op}: {r.status_code} {r.text}"
        assert BETA not in r.text, f"{op} shows cust-beta to a cust-acme caller: {r.text}"
    with httpx.Client(headers=acme, timeout=60) as http:
        own = get_json(http, fleet.url("incidents") + "/v1/incidents")["items"]
        assert {i["customer_id"] for i in own} == {ACME}
        for fmt in ("json", "csv", "html"):
            r = http.get(
                fleet.url("sla-clock") + f"/v1/customers/{ACME}/sla-report",
                params={"month": PERIOD, "format": fmt},
            )
            assert r.status_code == 200 and ACME in r.text, f"{fmt}: {r.text}"


def test_revoked_key_is_refused_within_the_cache_ttl(fleet: Fleet) -> None:
    import json
    import subprocess
    import sys

    key = fleet.create_api_key(source="soon-revoked", customers=[ACME], extra=_roles(["customer"]))
    url = fleet.url("incidents") + "/v1/incidents"
    assert httpx.get(url, headers=bearer(key)).status_code == 200
    listed = subprocess.run(
        [sys.executable, "-m", "msp_access.keys", "list"],
        env=fleet.env("ingest"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    key_id = next(json.loads(line)["key_id"] for line in listed if "soon-revoked" in line)
    subprocess.run(
        [sys.executable, "-m", "msp_access.keys", "revoke", key_id],
        env=fleet.env("ingest"),
        check=True,
        capture_output=True,
    )
    from msp_devstack.testkit import wait_for

    # documented latency: auth_cache_ttl_s (5 s); the deadline only bounds a slow machine
    wait_for(
        lambda: httpx.get(url, headers=bearer(key)).status_code == 401,
        timeout=30,
        message="revoked key refused",
    )


def test_no_body_field_can_name_the_actor(fleet: Fleet, route_issuer: TestIssuer) -> None:
    """The actor of a change is the verified caller: every mutating route refuses a body
    field that tries to name another one (422 at that field), so nothing is applied."""
    billing = fleet.url("billing")
    ledger = httpx.get(
        f"{billing}/v1/customers/{ACME}/ledger/{PERIOD}",
        headers=fleet.operator_headers(),
        timeout=60,
    ).json()
    held = next(li for li in ledger["line_items"] if li["classification"] == "held_review")
    forged = {"subject": "someone-else", "display_name": "Someone Else"}
    attempts = {
        "/v1/invoice-runs": {**BODIES["/v1/invoice-runs"], "actor": forged},
        f"/v1/invoices/{INVOICES[ACME]}/credit-notes": {
            "line_ids": ["L-1"],
            "reason": "test",
            "actor": forged,
        },
        f"/v1/line-items/{held['line_item_id']}/reclassify": {
            "classification": "covered",
            "reason": "t",
            "by": "Someone Else",
        },
    }
    token = bearer(route_issuer.token(roles=["billing"]))
    for path, body in attempts.items():
        r = httpx.post(billing + path, json=body, headers=token, timeout=60)
        assert r.status_code == 422, f"{path}: {r.status_code} {r.text}"
        pointers = {e["pointer"] for e in r.json()["errors"]}
        assert pointers & {"/actor", "/by"}, f"{path}: {r.text}"
