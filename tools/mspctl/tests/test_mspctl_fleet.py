"""mspctl against the four services on the real broker and Postgres (one Fleet for the
module): keys, publish, tail, the query commands, dead-letter replay, export, and the
acceptance point: `mspctl rebuild` of sla-clock, billing and incidents reproduces the
same state (same SLA report, invoice, scope-creep report, incident list)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mspctl_events import CUSTOMER, INVOICE_AS_OF, OTHER, PERIOD, at, created, month
from typer.testing import CliRunner, Result

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import produce, read_topic, wait_for
from msp_events import make_event
from msp_events.serde import encode_value
from msp_events.types.deadletter import DeadLetterRecorded
from mspctl.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()
WAIT_S = 120


class Ctl:
    """Runs mspctl in-process with the fleet's configuration in the environment."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.env = {
            "KAFKA_BOOTSTRAP_SERVERS": fleet.kafka,
            "DATABASE_URL": fleet.database_url,
            "MSP_TOPIC_NAMESPACE": fleet.namespace,
            "MSPCTL_INGEST_URL": fleet.url("ingest"),
            "MSPCTL_INCIDENTS_URL": fleet.url("incidents"),
            "MSPCTL_SLA_URL": fleet.url("sla-clock"),
            "MSPCTL_BILLING_URL": fleet.url("billing"),
            "MSPCTL_API_KEY": "",
            "MSPCTL_TOKEN": fleet.operator_key,
        }

    def __call__(self, *argv: str, code: int = 0, input: str | None = None) -> Result:
        result = runner.invoke(app, list(argv), env=self.env, input=input)
        assert result.exit_code == code, f"mspctl {' '.join(argv)}: {result.output}"
        return result

    def json(self, *argv: str) -> Any:
        return json.loads(self(*argv).output)


@pytest.fixture(scope="module")
def fleet(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    ns = new_namespace()
    data = tmp_path_factory.mktemp("mspctl-fleet")
    with Fleet(kafka=kafka_bootstrap, database_url=database_url, namespace=ns, data_dir=data) as f:
        yield f


@pytest.fixture(scope="module")
def ctl(fleet: Fleet) -> Ctl:
    return Ctl(fleet)


@pytest.fixture(scope="module")
def key(ctl: Ctl) -> str:
    made = json.loads(
        ctl("keys", "create", "--source", "psa", "--customer", CUSTOMER, "--customer", OTHER).output
    )
    return str(made["key"])


def _post(fleet: Fleet, key: str, event: Any) -> int:
    response = httpx.post(
        fleet.url("ingest") + "/v1/events",
        content=encode_value(event),
        headers={"content-type": "application/cloudevents+json", "authorization": f"Bearer {key}"},
        timeout=30,
    )
    return response.status_code


@pytest.fixture(scope="module")
def published(ctl: Ctl, key: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The month, published through `mspctl publish` from an NDJSON file."""
    path = tmp_path_factory.mktemp("mspctl-files") / "month.ndjson"
    path.write_text("".join(encode_value(e).decode() + "\n" for e in month()))
    return str(ctl("publish", str(path), "--api-key", key).output)


def _tickets_on_topic(fleet: Fleet) -> list[str]:
    records = run_sync(lambda: read_topic(fleet.kafka, fleet.topic("msp.tickets.v1")))
    return [json.loads(r.value)["id"] for r in records]


# -- publish, tail, keys -------------------------------------------------------------------
def test_publish_good_then_again_then_a_bad_file(
    ctl: Ctl, fleet: Fleet, key: str, published: str, tmp_path: Path
) -> None:
    ticket_events = [e for e in month() if e.type.startswith("msp.ticket.")]
    assert f"{len(month())} event(s) accepted: {len(month())} published, 0 duplicate" in published
    on_topic = wait_for(
        lambda: set(_tickets_on_topic(fleet)) >= {e.id for e in ticket_events},
        timeout=WAIT_S,
        message="the month's ticket events on msp.tickets.v1",
    )
    assert on_topic
    path = tmp_path / "again.json"
    path.write_text(json.dumps([json.loads(encode_value(e)) for e in month()]))
    again = ctl("publish", str(path), "--api-key", key).output
    assert f"0 published, {len(month())} duplicate(s)" in again

    good = created("T-90", "P3", at(20, 10), category="help_desk")
    bad = json.loads(encode_value(created("T-91", "P3", at(20, 11), category="help_desk")))
    bad["data"]["priority"] = "urgent"
    path = tmp_path / "bad.ndjson"
    path.write_text(encode_value(good).decode() + "\n" + json.dumps(bad) + "\n")
    refused = ctl("publish", str(path), "--api-key", key, code=1).output
    assert "nothing published" in refused and "line 2: /data/priority:" in refused
    assert good.id not in _tickets_on_topic(fleet)


def test_tail_decodes_and_filters(ctl: Ctl, published: str) -> None:
    out = ctl(
        "tail",
        "msp.tickets.v1",
        "--from-beginning",
        "--customer",
        CUSTOMER,
        "--type",
        "msp.ticket.created.v1",
    ).output.splitlines()
    subjects = {line.split(" subject=")[1].split()[0] for line in out}
    assert subjects >= {"T-1", "T-2", "T-3", "T-4"}, out  # (+ the proactive ticket, if out)
    assert all(" msp.ticket.created.v1 customer=cust-a " in line for line in out)
    assert any("subject=T-2 id=cust-a-T-2-created" in line for line in out)
    as_json = ctl("tail", "msp.contracts.v1", "--from-beginning", "--json").output.splitlines()
    assert {json.loads(line)["customerid"] for line in as_json} == {CUSTOMER, OTHER}


def test_tail_follow_prints_new_events(ctl: Ctl, fleet: Fleet, key: str) -> None:
    argv = [sys.executable, "-m", "mspctl", "tail", "msp.tickets.v1", "--follow", "--last", "0"]
    argv += ["--customer", OTHER]
    env = {**os.environ, **ctl.env}
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    out = proc.stdout
    assert out is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, "")))
    reader.start()
    try:
        # it says when it is positioned at the end: only then is "new" well defined
        wait_for(
            lambda: any("following msp.tickets.v1" in line for line in lines),
            timeout=WAIT_S,
            message=lambda: f"tail following (got {lines})",
        )
        new = created("B-8", "P4", at(23, 10), customer=OTHER, category="help_desk")
        assert _post(fleet, key, new) == 202
        wait_for(
            lambda: any(new.id in line for line in lines),
            timeout=WAIT_S,
            message=lambda: f"the new event tailed (got {lines})",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)


def test_keys_rotate_and_revoke(ctl: Ctl, fleet: Fleet) -> None:
    made = json.loads(ctl("keys", "create", "--source", "rmm", "--customer", OTHER).output)
    probe = created("B-9", "P4", at(21, 10), customer=OTHER, category="help_desk")
    assert _post(fleet, made["key"], probe) == 202
    rotated = json.loads(ctl("keys", "rotate", made["key_id"]).output)
    assert rotated["replaces"] == made["key_id"] and rotated["source"] == "rmm"
    assert rotated["customer_ids"] == [OTHER] and rotated["key"] != made["key"]
    listed = [
        json.loads(line) for line in ctl("keys", "list", "--all", "--json").output.splitlines()
    ]
    by_id = {k["key_id"]: k for k in listed}
    assert by_id[made["key_id"]]["revoked_at"] and not by_id[rotated["key_id"]]["revoked_at"]
    assert "key" not in by_id[made["key_id"]]  # secrets are never listed
    # ingest caches key lookups for up to 5 s: the old key stops working within that
    wait_for(lambda: _post(fleet, made["key"], probe) == 401, timeout=WAIT_S)
    assert _post(fleet, rotated["key"], probe) == 202
    ctl("keys", "revoke", rotated["key_id"])
    wait_for(lambda: _post(fleet, rotated["key"], probe) == 401, timeout=WAIT_S)
    again = ctl("keys", "revoke", rotated["key_id"], code=1).output
    assert "no active key" in again
    # every key change is in the audit log, by the operator key mspctl ran with
    records = httpx.get(
        fleet.url("ingest") + "/v1/audit",
        headers=fleet.operator_headers(),
        params={"subject": "key:" + fleet.operator_key.split("_")[1]},
        timeout=30,
    ).json()["records"]
    changes = {(r["action"], r["object_id"]) for r in records}
    assert {
        ("key_create", made["key_id"]),
        ("key_rotate", made["key_id"]),
        ("key_revoke", rotated["key_id"]),
    } <= changes, changes
    assert {r["display_name"] for r in records} == {"fleet-operator"}


# -- what the month produced, and the rebuild acceptance ------------------------------------
def _report(ctl: Ctl) -> dict[str, Any]:
    body = ctl.json("sla", "report", CUSTOMER, "--month", PERIOD, "--format", "json")
    body.pop("as_of")
    return dict(body)


def _month_done(ctl: Ctl) -> dict[str, Any]:
    report = _report(ctl)
    summary = {(s["metric"], s["priority"]): s for s in report["summary"]}
    first_p2 = summary.get(("first_response", "P2"))
    assert first_p2 and first_p2["met"] >= 1 and first_p2["breached"] >= 1, report
    assert "T-2" in {b["ticket_id"] for b in report["breaches"]}
    # the incidents' outputs arrived too: the backup incident and its proactive ticket
    assert report["availability"]["incidents"] == 1, report["availability"]
    assert len({c["ticket_id"] for c in report["clocks"]}) == 4, report["clocks"]
    return report


def _billing_done(ctl: Ctl) -> dict[str, Any]:
    creep = ctl.json("scope-creep", "--period", PERIOD, "--customer", CUSTOMER, "--json")
    assert [t["ticket_id"] for c in creep["customers"] for t in c["tickets"]] == ["T-2"], creep
    ledger = httpx.get(
        ctl.fleet.url("billing") + f"/v1/customers/{CUSTOMER}/ledger/{PERIOD}",
        timeout=30,
        headers=ctl.fleet.operator_headers(),
    ).json()
    assert {li["entry_id"] for li in ledger["line_items"]} >= {"TE-T-1", "TE-T-2", "TE-T-3"}
    return {"scope_creep": creep, "ledger": ledger}


def test_rebuild_reproduces_sla_report_and_invoice(ctl: Ctl, fleet: Fleet, published: str) -> None:
    report = wait_for(lambda: _month_done(ctl), timeout=WAIT_S, message="the March SLA report")
    billing = wait_for(lambda: _billing_done(ctl), timeout=WAIT_S, message="March billed")
    table = ctl("sla", "report", CUSTOMER, "--month", PERIOD).output
    assert "first_response" in table and "T-2" in table  # the breach is listed
    ticket = ctl.json("sla", "ticket", "T-2", "--customer", CUSTOMER, "--json")
    assert {c["outcome"] for c in ticket["clocks"] if c["metric"] == "first_response"} == {
        "breached"
    }
    run = ctl(
        "invoice",
        "run",
        "--period",
        PERIOD,
        "--customer",
        CUSTOMER,
        "--as-of",
        INVOICE_AS_OF.strftime("%Y-%m-%dT%H:%M:%S"),
    ).output
    assert "issued" in run
    invoice = ctl.json("invoice", CUSTOMER, "--period", PERIOD, "--json")
    kinds = {line["classification"] for line in invoice["lines"]}
    assert "project" in kinds and "flat_fee" in kinds, invoice
    printed = ctl("invoice", CUSTOMER, "--period", PERIOD).output
    assert f"total    {invoice['total']} {invoice['currency']}" in printed
    assert "T-2" in ctl("scope-creep", "--period", PERIOD).output
    assert "breached" in ctl("sla", "ticket", "T-2", "--customer", CUSTOMER).output

    # sla-clock: refused while it runs; then stopped, rebuilt, restarted, caught up
    refused = ctl("rebuild", "sla-clock", code=1).output
    assert "still answering" in refused
    fleet.stop("sla-clock")
    done = ctl("rebuild", "sla-clock").output
    assert f"created schema {fleet.schema('sla-clock')} afresh" in done and "kept the old" in done
    fleet.start_service("sla-clock")
    wait_for(
        lambda: _report(ctl) == report,
        timeout=WAIT_S,
        message=lambda: f"the same SLA report: before {report}, now {_report(ctl)}",
    )

    # billing: the invoice run is an API call, so the rebuild says how to repeat it
    fleet.stop("billing")
    done = ctl("rebuild", "billing").output
    commands = [line.split()[1:] for line in done.splitlines() if "mspctl invoice run" in line]
    assert commands == [
        [
            "invoice",
            "run",
            "--period",
            PERIOD,
            "--customer",
            CUSTOMER,
            "--as-of",
            INVOICE_AS_OF.strftime("%Y-%m-%dT%H:%M:%S"),
        ]
    ], done
    fleet.start_service("billing")
    assert wait_for(
        lambda: _billing_done(ctl) == billing,
        timeout=WAIT_S,
        message="the same line items and scope creep after the rebuild",
    )
    ctl("invoice", "show", CUSTOMER, "--period", PERIOD, code=1)  # not run again yet
    for argv in commands:
        ctl(*argv)
    assert ctl.json("invoice", CUSTOMER, "--period", PERIOD, "--json") == invoice

    # a credit note is a person's decision, on no input topic: rebuild refuses to lose it
    project = next(line for line in invoice["lines"] if line["classification"] == "project")
    credited = httpx.post(
        fleet.url("billing") + f"/v1/invoices/{invoice['invoice_id']}/credit-notes",
        json={"line_ids": [project["line_id"]], "reason": "goodwill"},
        timeout=30,
        headers=fleet.operator_headers(),
    )
    assert credited.status_code == 201, credited.text
    fleet.stop("billing")
    refused = ctl("rebuild", "billing", code=1).output
    assert "1 credit note(s)" in refused and "--force" in refused
    fleet.start_service("billing")
    assert ctl.json("invoice", CUSTOMER, "--period", PERIOD, "--json") == invoice


# -- dead letters ---------------------------------------------------------------------------
def test_dlq_list_and_replay_once(ctl: Ctl, fleet: Fleet, published: str) -> None:
    # a real dead letter: garbage on a raw topic, rejected by ingest's raw consumer
    raw_tickets = fleet.topic("msp.raw.tickets.v1")
    run_sync(lambda: produce(fleet.kafka, raw_tickets, raw=[(OTHER.encode(), b"{oops")]))

    def dead_letter_listed() -> str:
        out = str(ctl("dlq", "list", "--customer", OTHER).output)
        return out if "msp.raw.tickets.v1" in out else ""

    listed = wait_for(dead_letter_listed, timeout=WAIT_S, message="ingest's dead letter")
    assert " no " in listed  # not replayed yet
    # a dead letter "before a fix": a valid ticket event some service had rejected
    fixed = created("B-7", "P4", at(22, 10), customer=OTHER, category="help_desk")
    letter = DeadLetterRecorded(
        original_topic=raw_tickets,
        original_partition=0,
        original_offset=999_999,
        original_key_b64=base64.b64encode(OTHER.encode()).decode(),
        original_value_b64=base64.b64encode(encode_value(fixed)).decode(),
        reason="contract not loaded (test: fixed since)",
        consumer_group="g",
        service="ingest",
        failed_at=at(22, 10),
    )
    envelope = make_event(letter, customer_id=OTHER, source="/test", time=at(22, 10), id="dl-1")
    run_sync(lambda: produce(fleet.kafka, fleet.topic("msp.deadletter.v1"), [envelope]))

    preview = ctl("dlq", "replay", "--reason", "fixed since", "--dry-run").output
    assert "would replay 1 dead letter(s)" in preview
    first = ctl("dlq", "replay", "--reason", "fixed since").output
    assert "replayed 1 dead letter(s); 0 already replayed" in first
    second = ctl("dlq", "replay", "--reason", "fixed since").output
    assert "replayed 0 dead letter(s); 1 already replayed" in second
    wait_for(
        lambda: fixed.id in _tickets_on_topic(fleet),
        timeout=WAIT_S,
        message="the replayed event accepted by ingest",
    )
    raw = run_sync(lambda: read_topic(fleet.kafka, raw_tickets))
    assert sum(r.value == encode_value(fixed) for r in raw) == 1  # republished exactly once
    assert "yes" in ctl("dlq", "list", "--reason", "fixed since").output


# -- export ---------------------------------------------------------------------------------
def test_export_holds_everything_about_one_customer(
    ctl: Ctl, fleet: Fleet, published: str, tmp_path: Path
) -> None:
    # billing has recorded the month (test order may have credited lines since)
    wait_for(
        lambda: ctl.json("scope-creep", "--customer", CUSTOMER, "--json")["customers"],
        timeout=WAIT_S,
        message="billing recorded the month",
    )
    out = tmp_path / "export"
    ctl("export", CUSTOMER, "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["customer_id"] == CUSTOMER
    tickets = [
        json.loads(line) for line in (out / "topics/msp.tickets.v1.ndjson").read_text().splitlines()
    ]
    mine = {e.id for e in month() if e.customer_id == CUSTOMER and e.type.startswith("msp.ticket.")}
    assert mine <= {t["id"] for t in tickets}
    assert {t["customerid"] for t in tickets} == {CUSTOMER}
    assert manifest["topics"]["msp.tickets.v1"]["records"] == len(tickets)
    assert manifest["event_types"]["msp.ticket.created.v1"] >= 4
    tables = manifest["tables"]
    for table in ("billing.line_items", "sla_clock.clocks", "access.api_keys"):
        assert tables[f"{fleet.namespace}{table}"]["rows"] > 0, table
    keys = json.loads((out / f"tables/{fleet.namespace}access/api_keys.json").read_text())
    assert all(CUSTOMER in k["customer_ids"] and "key_hash" not in k for k in keys)
    items = json.loads((out / f"tables/{fleet.namespace}billing/line_items.json").read_text())
    assert {i["customer_id"] for i in items} == {CUSTOMER}
    assert f"{fleet.namespace}billing" in manifest["schema_versions"]
    assert any("consumer_offsets" in s for s in manifest["skipped"])
    refused = ctl("export", CUSTOMER, "--out", str(out), code=2).output
    assert "is not empty" in refused


def test_export_is_for_data_export_and_a_customer_only_exports_itself(
    ctl: Ctl, key: str, tmp_path: Path
) -> None:
    made = json.loads(
        ctl(
            "keys", "create", "--source", "portal", "--customer", OTHER, "--role", "customer"
        ).output
    )
    as_other = Ctl(ctl.fleet)
    as_other.env["MSPCTL_TOKEN"] = made["key"]
    out = tmp_path / "theirs"
    refused = as_other("export", CUSTOMER, "--out", str(out), code=2).output
    assert f"{CUSTOMER!r} is not among the customers of this credential" in refused
    nowhere = as_other("export", "cust-does-not-exist", "--out", str(out), code=2).output
    assert nowhere.replace("cust-does-not-exist", CUSTOMER) == refused, "no existence leak"
    assert not (out / "manifest.json").exists()
    as_publisher = Ctl(ctl.fleet)
    as_publisher.env["MSPCTL_TOKEN"] = key  # publisher role: no data:export
    lacks = as_publisher("export", CUSTOMER, "--out", str(tmp_path / "p"), code=2).output
    assert "lacks data:export" in lacks


def _incidents(ctl: Ctl) -> list[dict[str, Any]]:
    items = ctl.json("incidents", "list", "--customer", CUSTOMER, "--json")
    assert items and items[0]["ticket_id"], items  # opened, with its proactive ticket
    return list(items)


def test_rebuild_incidents_reproduces_the_incident_list(
    ctl: Ctl, fleet: Fleet, published: str
) -> None:
    before = wait_for(lambda: _incidents(ctl), timeout=WAIT_S, message="the backup incident")
    assert [i["check_kind"] for i in before] == ["backup_failure"]
    triaged = _triage_log(fleet)
    assert [t["outcome"] for t in triaged] == ["opened"], triaged
    table = ctl("incidents", "list", "--status", "open").output
    assert before[0]["incident_id"] in table
    fleet.stop("incidents")
    done = ctl("rebuild", "incidents").output
    assert "created schema" in done
    assert "msp.monitoring.v1 keeps records 7 days" in done
    fleet.start_service("incidents")
    wait_for(lambda: _incidents(ctl) == before, timeout=WAIT_S, message="the same incidents")
    # the triage log is written only by triage: the monitoring topic was replayed
    wait_for(lambda: _triage_log(fleet) == triaged, timeout=WAIT_S, message="triage replayed")


def _triage_log(fleet: Fleet) -> list[dict[str, Any]]:
    url = fleet.url("incidents") + "/v1/triage-log"
    body = httpx.get(
        url, params={"customer_id": CUSTOMER}, timeout=30, headers=fleet.operator_headers()
    ).json()
    return list(body["items"] if isinstance(body, dict) else body)
