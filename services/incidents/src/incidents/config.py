"""The knobs of the triage rules (defaults are the documented ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property


@dataclass(frozen=True)
class TriageConfig:
    correlation_window_s: int = 300
    """Alerts on the same device/site within this long of the incident's last alert join it."""
    site_min_devices: int = 3
    """This many devices of one site offline together make the incident "site unreachable"."""
    site_offline_share: float = 0.5
    """...or this share of the site's known devices (at least 2 devices)."""
    flap_changes: int = 4
    """More state changes than this within `flap_window_s` mark an alert flapping."""
    flap_window_s: int = 600
    holddown_s: int = 120
    """A trigger within this long after a resolve re-fires the same alert; later, a new one.
    Also how long an incident waits after its last alert resolved before it resolves."""
    tombstone_ttl_s: int = 600
    """How long a resolve for an unknown alert waits for its late trigger."""
    alert_timeout_s: int = 4 * 3600
    """A firing alert not repeated or resolved for this long expires (counts as resolved)."""
    heartbeat_grace_s: int = 60
    """A device is silent when no heartbeat came within its interval plus this grace."""
    pending_contract_ttl_s: int = 600
    """Alerts of a customer whose contract has not arrived wait this long for it."""

    @cached_property
    def window(self) -> timedelta:
        return timedelta(seconds=self.correlation_window_s)

    @cached_property
    def holddown(self) -> timedelta:
        return timedelta(seconds=self.holddown_s)

    @cached_property
    def flap_window(self) -> timedelta:
        return timedelta(seconds=self.flap_window_s)

    @cached_property
    def tombstone_ttl(self) -> timedelta:
        return timedelta(seconds=self.tombstone_ttl_s)

    @cached_property
    def alert_timeout(self) -> timedelta:
        return timedelta(seconds=self.alert_timeout_s)

    @cached_property
    def pending_ttl(self) -> timedelta:
        return timedelta(seconds=self.pending_contract_ttl_s)
