"""API keys for the simulator, made with ingest's own CLI (`python -m ingest.keys
create`), so they are stored, hashed and peppered exactly like an operator's keys. The
CLI connects with DATABASE_URL and the ingest schema from `env`, which must be the
environment the ingest service runs with (same schema, same pepper)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PSA_SOURCE = "sim-psa"
ALERTMANAGER_SOURCE = "sim-alertmanager"


@dataclass(frozen=True)
class Keys:
    events: str
    """For `/v1/events` (PSA, CRM and RMM CloudEvents)."""
    alertmanager: str
    """For `/v1/integrations/alertmanager` (labels: customer, instance, site, check_kind)."""


def create_key(
    *,
    source: str,
    customers: Sequence[str],
    env: Mapping[str, str],
    extra: Sequence[str] = (),
) -> str:
    """A new key for `source` posting for `customers`; `extra` are more CLI options
    (e.g. `--label-device host`)."""
    argv = [sys.executable, "-m", "ingest.keys", "create", "--source", source]
    for customer in customers:
        argv += ["--customer", customer]
    argv += list(extra)
    done = subprocess.run(
        argv, env=dict(env), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"ingest.keys create failed: {done.stderr.strip() or done.stdout}")
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return str(json.loads(line)["key"])
    raise RuntimeError(f"no key in the output of ingest.keys create: {done.stdout!r}")


def create_keys(*, customers: Sequence[str], env: Mapping[str, str]) -> Keys:
    return Keys(
        events=create_key(source=PSA_SOURCE, customers=customers, env=env),
        alertmanager=create_key(source=ALERTMANAGER_SOURCE, customers=customers, env=env),
    )
