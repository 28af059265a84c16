"""The contract state billing keeps per customer: the whole version history (from
`ContractSnapshot` / `ContractTerminated`) and, when terminated, since when."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from msp_events.types.contracts import (
    ContractSnapshot,
    ContractTerminated,
    ContractVersion,
    version_in_force,
)


@dataclass(frozen=True)
class ContractState:
    contract_id: str
    versions: tuple[ContractVersion, ...]
    terminated_at: dt.datetime | None = None

    @classmethod
    def from_event(cls, data: ContractSnapshot | ContractTerminated) -> ContractState:
        ended = data.effective_at if isinstance(data, ContractTerminated) else None
        return cls(data.contract_id, tuple(data.versions), ended)

    def version_at(self, instant: dt.datetime) -> ContractVersion | None:
        """The version in force at `instant`, or None before the first version or from
        the termination on (later version wins on equal `effective_from`)."""
        if self.terminated_at is not None and instant >= self.terminated_at:
            return None
        return version_in_force(self.versions, instant)

    def nearest_version(self, instant: dt.datetime) -> ContractVersion:
        """The version whose rates apply to work outside any version (before the first:
        the first; after termination: the last in force)."""
        found = self.versions[0]
        for v in self.versions:
            if v.effective_from <= instant:
                found = v
        return found
