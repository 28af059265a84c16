"""API keys for the simulator, made with the access library's CLI (`python -m
msp_access.keys create`), so they are stored, hashed and peppered exactly like an
operator's keys. The CLI connects with DATABASE_URL and the access schema from `env`,
which must be the environment the services run with (same namespace, same pepper)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PSA_SOURCE = "sim-psa"
ALERTMANAGER_SOURCE = "sim-alertmanager"
OPERATOR_SOURCE = "sim-operator"
OPERATOR = ("--role", "admin", "--role", "dispatcher", "--role", "billing")


@dataclass(frozen=True)
class Keys:
    events: str
    """For `/v1/events` (PSA, CRM and RMM CloudEvents)."""
    alertmanager: str
    """For `/v1/integrations/alertmanager` (labels: customer, instance, site, check_kind)."""
    operator: str | None = None
    """For everything else the simulation calls: the catch-up's /metrics, the invoice
    run, the summary's reads (admin, dispatcher and billing roles, every customer)."""

    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator}"} if self.operator else {}


def create_key(
    *,
    source: str,
    customers: Sequence[str],
    env: Mapping[str, str],
    extra: Sequence[str] = (),
) -> str:
    """A new key for `source` posting for `customers` (role publisher unless `extra` says
    otherwise); `extra` are more CLI options (e.g. `--label-device host`, `--role admin`).
    With no `customers`, the key is bound to every customer."""
    argv = [sys.executable, "-m", "msp_access.keys", "create", "--source", source]
    for customer in customers:
        argv += ["--customer", customer]
    if not customers:
        argv.append("--all-customers")
    argv += list(extra)
    done = subprocess.run(
        argv, env=dict(env), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"msp_access.keys create failed: {done.stderr.strip() or done.stdout}")
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return str(json.loads(line)["key"])
    raise RuntimeError(f"no key in the output of msp_access.keys create: {done.stdout!r}")


def create_keys(*, customers: Sequence[str], env: Mapping[str, str]) -> Keys:
    return Keys(
        events=create_key(source=PSA_SOURCE, customers=customers, env=env),
        alertmanager=create_key(source=ALERTMANAGER_SOURCE, customers=customers, env=env),
        operator=create_key(source=OPERATOR_SOURCE, customers=(), env=env, extra=OPERATOR),
    )
