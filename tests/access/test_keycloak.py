"""The four services behind a real identity provider: Keycloak from Maven Central
(`msp_devstack.keycloak`, started once per session), its tokens obtained with real
grants (resource-owner password for people, client credentials for mspctl).

- a `billing` user runs the invoice run, issues a credit note and reclassifies a line:
  the audit log and the emitted events name that user; a body field cannot;
- a `customer` user reads its own SLA report (JSON, CSV, HTML), incidents, invoice
  and ledger, and nothing of the other customer;
- mspctl signs in with client credentials, and a person with the device grant;
- the provider rotates its signing key: new tokens are accepted without a restart."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from access_fleet import fleet_for, get_json, seed
from access_month import ACME, BETA, INVOICE_AS_OF, PERIOD
from typer.testing import CliRunner

from msp_devstack.fleet import Fleet
from msp_devstack.keycloak import AUDIENCE, LocalKeycloak
from msp_devstack.processes import run_sync
from msp_devstack.testkit import read_topic, wait_for
from msp_events.serde import decode
from mspctl.cli import app as mspctl_app

# The first test also starts Keycloak (a JVM: minutes on a loaded 2-core machine) and
# a Fleet with both tenants' month; the start has its own deadline (LocalKeycloak).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str,
    database_url: str,
    keycloak: LocalKeycloak,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    oidc = {
        "MSP_OIDC_ISSUER": keycloak.issuer,
        "MSP_OIDC_AUDIENCE": AUDIENCE,
        "MSP_OIDC_JWKS_MIN_REFRESH_S": "1",
    }
    data = tmp_path_factory.mktemp("keycloak-fleet")
    with fleet_for(kafka=kafka_bootstrap, database_url=database_url, data_dir=data, oidc=oidc) as f:
        seed(f)
        yield f


def as_user(keycloak: LocalKeycloak, username: str) -> httpx.Client:
    token = keycloak.user_token(username)
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120)


def test_a_billing_user_is_the_actor_of_every_change_it_makes(
    fleet: Fleet, keycloak: LocalKeycloak
) -> None:
    bea = keycloak.users["billing-bea"]
    billing = fleet.url("billing")
    with as_user(keycloak, "billing-bea") as http:
        run = http.post(
            billing + "/v1/invoice-runs",
            json={"period": PERIOD, "as_of": INVOICE_AS_OF.isoformat()},
        )
        assert run.status_code == 200, run.text
        outcomes = {o["customer_id"]: o for o in run.json()["outcomes"]}
        assert outcomes[ACME]["outcome"] == "issued", outcomes
        invoice = get_json(http, billing + f"/v1/invoices/{outcomes[ACME]['invoice_id']}")
        credit = http.post(
            billing + f"/v1/invoices/{invoice['invoice_id']}/credit-notes",
            json={"line_ids": [invoice["lines"][0]["line_id"]], "reason": "goodwill"},
        )
        assert credit.status_code == 201, credit.text
        ledger = get_json(http, billing + f"/v1/customers/{ACME}/ledger/{PERIOD}")
        held = next(li for li in ledger["line_items"] if li["classification"] == "held_review")
        path = f"/v1/line-items/{held['line_item_id']}/reclassify"
        body = {"classification": "covered", "reason": "the garden pump is IT"}
        forged = http.post(billing + path, json={**body, "by": "someone-else"})
        assert forged.status_code == 422 and forged.json()["errors"][0]["pointer"] == "/by"
        done = http.post(billing + path, json=body)
        assert done.status_code == 200, done.text

    with as_user(keycloak, "admin-ada") as admin:
        records = get_json(admin, billing + "/v1/audit", params={"subject": bea["id"]})["records"]
    assert sorted(r["action"] for r in records) == ["credit_note", "invoice_run", "reclassify"]
    for r in records:
        assert (r["display_name"], r["credential_id"]) == ("Bea Billing", "oidc:msp-cli"), r
    assert {r["customer_id"] for r in records if r["action"] != "invoice_run"} == {ACME}

    def reclassifications() -> list[Any]:
        """The reclassification events relayed so far (billing's outbox relays them
        after the API answered: read until they are there, within the deadline)."""
        events = [
            decode(r.value)
            for r in run_sync(
                lambda: read_topic(fleet.kafka, fleet.topic("msp.billing.line-items.v1"), within=60)
            )
        ]
        return [e for e in events if e.type == "msp.billing.line_item_reclassified.v1"]

    reclassified = wait_for(
        reclassifications, timeout=60, interval=1.0, message="the reclassification relayed"
    )
    assert {e.data.reclassified_by for e in reclassified} == {"Bea Billing"}  # type: ignore[attr-defined]

    def acme_documents() -> list[Any]:
        """ACME's invoice and credit note once both are relayed (same deadline)."""
        found = [
            e
            for e in (
                decode(r.value)
                for r in run_sync(
                    lambda: read_topic(
                        fleet.kafka, fleet.topic("msp.billing.invoices.v1"), within=60
                    )
                )
            )
            if e.customer_id == ACME
        ]
        return found if len({e.type for e in found}) >= 2 else []

    documents = wait_for(acme_documents, timeout=60, interval=1.0, message="ACME's documents")
    changed = reclassified + documents
    assert {e.type for e in changed} >= {
        "msp.billing.invoice_issued.v1",
        "msp.billing.credit_note_issued.v1",
        "msp.billing.line_item_reclassified.v1",
    }
    for e in changed:
        actor = e.data.actor  # type: ignore[attr-defined]
        assert actor is not None, e.type
        assert (actor.subject, actor.display_name) == (bea["id"], "Bea Billing"), e.type


def test_a_customer_reads_its_own_and_nothing_of_another(
    fleet: Fleet, keycloak: LocalKeycloak
) -> None:
    run = httpx.post(
        fleet.url("billing") + "/v1/invoice-runs",
        json={"period": PERIOD, "as_of": INVOICE_AS_OF.isoformat()},
        headers=fleet.operator_headers(),
        timeout=120,
    )
    invoices = {o["customer_id"]: o["invoice_id"] for o in run.json()["outcomes"]}
    sla, incidents, billing = fleet.url("sla-clock"), fleet.url("incidents"), fleet.url("billing")
    with as_user(keycloak, "acme-alice") as alice:
        report = f"{sla}/v1/customers/{ACME}/sla-report"
        assert get_json(alice, report, params={"month": PERIOD})["customer_id"] == ACME
        for fmt, media in (("csv", "text/csv"), ("html", "text/html")):
            r = alice.get(report, params={"month": PERIOD, "format": fmt})
            assert r.status_code == 200 and r.headers["content-type"].startswith(media), r.text
            assert BETA not in r.text
        own = get_json(alice, incidents + "/v1/incidents")["items"]
        assert own and {i["customer_id"] for i in own} == {ACME}
        filtered = get_json(alice, incidents + "/v1/incidents", params={"customer_id": BETA})
        assert filtered["items"] == []
        assert get_json(alice, f"{billing}/v1/invoices/{invoices[ACME]}")["invoice_id"]
        lines = get_json(alice, f"{billing}/v1/customers/{ACME}/ledger/{PERIOD}")["line_items"]
        assert lines and all(li["entry_id"].startswith(ACME) for li in lines)

        theirs = alice.get(f"{billing}/v1/invoices/{invoices[BETA]}")
        missing = alice.get(f"{billing}/v1/invoices/inv-nope")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["errors"] == [
            {**e, "message": e["message"].replace("inv-nope", invoices[BETA])}
            for e in missing.json()["errors"]
        ]
        beta_report = alice.get(f"{sla}/v1/customers/{BETA}/sla-report", params={"month": PERIOD})
        nope_report = alice.get(f"{sla}/v1/customers/nope/sla-report", params={"month": PERIOD})
        assert beta_report.status_code == 404 and beta_report.json() == nope_report.json()
        ledger = alice.get(
            f"{billing}/v1/customers/{BETA}/ledger/{PERIOD}", params={"format": "csv"}
        )
        assert ledger.status_code == 200 and BETA not in ledger.text.split("\n", 1)[1]
        # read only: no invoice run, no queue (dispatchers), no audit log (admins)
        assert alice.post(billing + "/v1/invoice-runs", json={"period": PERIOD}).status_code == 403
        assert alice.get(sla + "/v1/queue").status_code == 403
        assert alice.get(billing + "/v1/audit").status_code == 403


def test_mspctl_signs_in_with_client_credentials(fleet: Fleet, keycloak: LocalKeycloak) -> None:
    env = {
        "MSPCTL_INCIDENTS_URL": fleet.url("incidents"),
        "MSPCTL_TOKEN": "",
        "MSPCTL_OIDC_TOKEN_URL": keycloak.token_url,
        "MSPCTL_OIDC_CLIENT_ID": "mspctl",
        "MSPCTL_OIDC_CLIENT_SECRET": "mspctl-test-secret",
    }
    result = CliRunner().invoke(mspctl_app, ["incidents", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    customers = {i["customer_id"] for i in json.loads(result.output)}
    assert customers == {ACME, BETA}, "the operator's service account sees every customer"


def test_a_person_signs_in_to_mspctl_with_the_device_grant(
    fleet: Fleet, keycloak: LocalKeycloak, tmp_path: Path
) -> None:
    """`mspctl login` prints a link and a code; the person confirms in the browser
    (Keycloak's own login pages, driven over HTTP); mspctl keeps the token in a
    user-only file and sends it: a customer sees only its own incidents."""
    token_file = tmp_path / "mspctl" / "token.json"
    env = {
        **os.environ,
        "MSPCTL_TOKEN": "",
        "MSPCTL_OIDC_ISSUER": keycloak.issuer,
        "MSPCTL_OIDC_CLIENT_ID": "msp-cli",
        "MSPCTL_OIDC_TOKEN_URL": "",
        "MSPCTL_TOKEN_FILE": str(token_file),
        "MSPCTL_INCIDENTS_URL": fleet.url("incidents"),
    }
    login = subprocess.Popen(
        [sys.executable, "-m", "mspctl", "login"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert login.stderr is not None
        prompt = login.stderr.readline()
        found = re.match(r"Open (\S+) and confirm the code (\S+)", prompt)
        assert found, prompt
        keycloak.approve_device(found[1], "acme-alice")
        assert login.wait(timeout=120) == 0, login.stderr.read()
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    listed = subprocess.run(
        [sys.executable, "-m", "mspctl", "incidents", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert {i["customer_id"] for i in json.loads(listed.stdout)} == {ACME}


def test_a_rotated_signing_key_is_accepted_without_a_restart(
    fleet: Fleet, keycloak: LocalKeycloak
) -> None:
    url = fleet.url("incidents") + "/v1/incidents"
    before = keycloak.user_token("dispatch-dan")
    assert httpx.get(url, headers={"Authorization": f"Bearer {before}"}).status_code == 200
    new_kid = keycloak.rotate_signing_key()
    after = keycloak.user_token("dispatch-dan")
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    assert jwt.get_unverified_header(before)["kid"] != new_kid
    r = httpx.get(url, headers={"Authorization": f"Bearer {after}"}, timeout=30)
    assert r.status_code == 200, r.text


def test_a_person_without_a_role_is_refused(fleet: Fleet, keycloak: LocalKeycloak) -> None:
    with as_user(keycloak, "no-role-nick") as nick:
        r = nick.get(fleet.url("incidents") + "/v1/incidents")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
