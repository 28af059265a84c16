"""How a posting machine names our ids in its alert labels (per API key)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelNames:
    """Alertmanager label names (PagerDuty custom_details keys) that carry our ids."""

    customer: str = "customer"
    device: str = "instance"
    site: str = "site"
    check_kind: str = "check_kind"
