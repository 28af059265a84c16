"""The one settings class of the incidents service (env `MSP_*`), built at start-up."""

from __future__ import annotations

from pydantic import Field

from incidents.config import TriageConfig
from msp_plumbing.settings import ServiceSettings


class IncidentsSettings(ServiceSettings):
    service_name: str = "incidents"
    http_port: int = Field(default=8002, ge=1, le=65535)
    wall_clock_tick_s: float = Field(
        default=30.0, ge=0, description="Wall-clock scheduler period; 0 = event time only"
    )
    # triage rules (see config.TriageConfig for what each means)
    correlation_window_s: int = Field(default=300, gt=0)
    site_min_devices: int = Field(default=3, ge=2)
    site_offline_share: float = Field(default=0.5, gt=0, le=1)
    flap_changes: int = Field(default=4, ge=2)
    flap_window_s: int = Field(default=600, gt=0)
    holddown_s: int = Field(default=120, ge=0)
    tombstone_ttl_s: int = Field(default=600, gt=0)
    alert_timeout_s: int = Field(default=4 * 3600, gt=0)
    heartbeat_grace_s: int = Field(default=60, ge=0)
    pending_contract_ttl_s: int = Field(default=600, gt=0)

    def triage_config(self) -> TriageConfig:
        return TriageConfig(
            correlation_window_s=self.correlation_window_s,
            site_min_devices=self.site_min_devices,
            site_offline_share=self.site_offline_share,
            flap_changes=self.flap_changes,
            flap_window_s=self.flap_window_s,
            holddown_s=self.holddown_s,
            tombstone_ttl_s=self.tombstone_ttl_s,
            alert_timeout_s=self.alert_timeout_s,
            heartbeat_grace_s=self.heartbeat_grace_s,
            pending_contract_ttl_s=self.pending_contract_ttl_s,
        )
