"""`python -m msp_simulator play` against the four real services (a Fleet on the real
broker and Postgres): the storylines land where the summary says, and playing the
same seed again changes nothing downstream (every id is derived from the seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from msp_devstack.fleet import Fleet
from msp_devstack.testing import new_namespace

pytestmark = pytest.mark.integration

SMALL = "6"  # customers: every storyline and tier, a lean test


def _play(fleet: Fleet) -> str:
    env = {
        **fleet.env("ingest"),  # DATABASE_URL, schema and pepper for the key CLI
        "MSP_SIM_INGEST_URL": fleet.url("ingest"),
        "MSP_SIM_INCIDENTS_URL": fleet.url("incidents"),
        "MSP_SIM_SLA_URL": fleet.url("sla-clock"),
        "MSP_SIM_BILLING_URL": fleet.url("billing"),
        "PATH": os.environ.get("PATH", ""),
    }
    done = subprocess.run(
        [sys.executable, "-m", "msp_simulator", "play", "--seed", "5", "--customers", SMALL],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _summary(out: str) -> list[str]:
    text = out[out.index("SIMULATED MONTH") :]
    # the one line that differs on a replay: what ingest recognised as duplicates
    return [line for line in text.splitlines() if "alert notifications posted" not in line]


@pytest.mark.timeout(900)
def test_play_lands_every_storyline_and_a_replay_changes_nothing(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    ns = new_namespace()
    with Fleet(
        kafka=kafka_bootstrap, database_url=database_url, namespace=ns, data_dir=tmp_path
    ) as fleet:
        first = _play(fleet)
        summary = "\n".join(_summary(first))
        storm = [line for line in summary.splitlines() if line.startswith("  storm: ")]
        assert len(storm) == 1 and "cust-004" in storm[0] and "ticket None" not in storm[0]
        assert "  flapping: cust-001" in summary
        assert "Invoices (6 issued)" in summary
        assert "-CREEP" in summary  # scope creep without a change order, held
        # the project's change order overran its budget: 2 h held, on the scope-creep report
        assert "-PROJ (change_order_budget_exceeded)" in summary
        # the block-hours customer worked past its allowance: overage on the invoice
        overage = next(x for x in summary.splitlines() if x.startswith("  overage hours: "))
        assert Decimal(overage.split(": ")[1]) > 0, overage
        for kind in ("flat_fee", "on_demand", "project", "warranty", "overage"):
            assert f"\n  {kind} " in summary, kind
        margin = [line for line in summary.splitlines() if " margin " in line]
        assert "Margin per customer" in summary and len(margin) == 6, summary
        assert "2026-03-31" in first  # progress: a line per simulated day
        # the customer that outgrew its contract: billed for the peak seen
        [cast] = [line.split() for line in summary.splitlines() if line.startswith("  inventory ")]
        facts = dict(part.split("=", 1) for part in cast[1:] if "=" in part)
        customer, peak, contracted = facts["customer_id"], facts["peak_seen"], facts["contracted"]
        assert "Reconciliation (devices and users seen vs contracted" in summary
        assert f"  {customer} devices: {peak} seen" in summary
        assert f"vs {contracted} contracted -> billed {peak}; new {customer}-ws-901" in summary

        again = _play(fleet)
        assert "(0 published" in again, again[-2000:]
        assert _summary(again) == _summary(first)
