"""`Principal`: who is calling, resolved once per request from a bearer token or an API
key, and what it may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from msp_access.labels import LabelNames
from msp_access.roles import Permission, permissions_for


class _All:
    """Every customer (staff and operator credentials)."""

    _instance: _All | None = None

    def __new__(cls) -> _All:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL"


ALL = _All()
Customers = frozenset[str] | _All


@dataclass(frozen=True)
class Principal:
    subject: str
    """The identity provider's `sub`, or `key:<key_id>` for an API key."""
    display_name: str
    credential_id: str
    """The API key id, or `oidc:<client id>` for a token (which client it came through)."""
    kind: Literal["person", "machine"]
    roles: frozenset[str]
    customers: Customers
    permissions: frozenset[Permission] = field(default=frozenset())
    labels: LabelNames = field(default_factory=LabelNames)
    """How this machine's alert labels name our ids (from its API key; defaults else)."""
    source: str = ""
    """A bounded, non-personal name for metrics labels: an API key's `source`, a token's
    client (`oidc:<client id>`). Never the display name (a person's name: PII, and one
    time series per person)."""

    @classmethod
    def of(
        cls,
        *,
        subject: str,
        display_name: str,
        credential_id: str,
        kind: Literal["person", "machine"],
        roles: Iterable[str],
        customers: Customers,
        labels: LabelNames | None = None,
        source: str | None = None,
    ) -> Principal:
        roles = frozenset(roles)
        return cls(
            subject,
            display_name,
            credential_id,
            kind,
            roles,
            customers,
            permissions_for(roles),
            labels or LabelNames(),
            source or credential_id,
        )

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def all_customers(self) -> bool:
        return isinstance(self.customers, _All)

    def sees(self, customer_id: str) -> bool:
        return isinstance(self.customers, _All) or customer_id in self.customers

    @property
    def sole_customer(self) -> str | None:
        """The customer when the principal has exactly one (alert labels may omit it)."""
        if isinstance(self.customers, _All) or len(self.customers) != 1:
            return None
        return next(iter(self.customers))

    def customer_scope(self) -> list[str] | None:
        """None for every customer, else the sorted list (for `= ANY($n)` filters)."""
        return None if isinstance(self.customers, _All) else sorted(self.customers)

    def actor(self) -> dict[str, str]:
        """What audit records and emitted events name: never a request body field."""
        return {
            "subject": self.subject,
            "display_name": self.display_name,
            "credential_id": self.credential_id,
        }
