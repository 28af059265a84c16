"""The Fleet the access tests run: configured for an identity provider, with both
tenants' month published through ingest and processed by every service."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from access_month import ACME, BETA, PERIOD, month

from msp_devstack.fleet import Fleet
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import wait_for
from msp_events.serde import to_json_obj

SERVICES = ("ingest", "incidents", "sla-clock", "billing", "notify")
WAIT_S = 180


def fleet_for(*, kafka: str, database_url: str, data_dir: Path, oidc: Mapping[str, str]) -> Fleet:
    return Fleet(
        kafka=kafka,
        database_url=database_url,
        namespace=new_namespace(),
        data_dir=data_dir,
        settings={name: dict(oidc) for name in SERVICES},
    )


def seed(fleet: Fleet) -> None:
    """Both tenants' month through ingest, then wait until every service has it."""
    headers = {**fleet.operator_headers(), "Content-Type": "application/cloudevents-batch+json"}
    with httpx.Client(timeout=60, headers=fleet.operator_headers()) as http:
        posted = http.post(
            fleet.url("ingest") + "/v1/events",
            json=[to_json_obj(e) for e in month()],
            headers=headers,
        )
        assert posted.status_code == 202, posted.text

        def processed() -> bool:
            incidents = http.get(fleet.url("incidents") + "/v1/incidents").json()["items"]
            lines = [
                http.get(fleet.url("billing") + f"/v1/customers/{c}/ledger/{PERIOD}").json()
                for c in (ACME, BETA)
            ]
            reports = [
                http.get(
                    fleet.url("sla-clock") + f"/v1/customers/{c}/sla-report",
                    params={"month": PERIOD},
                ).status_code
                for c in (ACME, BETA)
            ]
            return (
                {i["customer_id"] for i in incidents} == {ACME, BETA}
                and all(len(lg["line_items"]) >= 3 for lg in lines)
                and reports == [200, 200]
            )

        wait_for(processed, timeout=WAIT_S, interval=1.0, message="both tenants processed")


def get_json(http: httpx.Client, url: str, **kw: Any) -> Any:
    r = http.get(url, **kw)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
    return r.json()
