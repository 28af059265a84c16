"""Shared test data: a London office-hours contract (Mon-Fri 08:00-18:00, P1 24x7),
and helpers to build ticket events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.types.contracts import ContractSnapshot, ContractVersion, ExcludedAsset

LON = ZoneInfo("Europe/London")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LON).astimezone(UTC)  # type: ignore[misc]


def contract_version(**changes: Any) -> ContractVersion:
    base = sample_contract_version()
    excluded = [
        ExcludedAsset(asset_id="ws-legacy-xp01", reason="Windows XP: below minimum standard")
    ]
    return base.model_copy(update={"excluded_assets": excluded, **changes})


def snapshot(*versions: ContractVersion, contract_id: str = "ctr-1") -> ContractSnapshot:
    return ContractSnapshot(
        contract_id=contract_id, versions=list(versions or [contract_version()])
    )


def ticket_event(
    data: EventData, *, customer: str = "cust-1", at: datetime | None = None, id: str
) -> Envelope:
    time = at or next(
        getattr(data, f)
        for f in ("opened_at", "changed_at", "added_at", "resolved_at", "reopened_at", "closed_at")
        if hasattr(data, f)
    )
    return make_event(
        data,
        customer_id=customer,
        source="/psa",
        time=time,
        subject=getattr(data, "ticket_id", None),
        id=id,
    )


@pytest.fixture
def version() -> ContractVersion:
    return contract_version()
