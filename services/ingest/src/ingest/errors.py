"""Client errors as one exception type, rendered by the views as JSON naming each
failing field (JSON pointers), or PagerDuty-style on the PagerDuty endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from msp_events import FieldError


@dataclass
class ItemError:
    pointer: str
    message: str
    index: int | None = None  # the batch item, when the request was a batch

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"pointer": self.pointer, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        return out


class RequestRejected(Exception):
    """Refuse the whole request: nothing of it is published."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        errors: list[ItemError] | None = None,
        headers: dict[str, str] | None = None,
        rejected_types: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # metric label: unauthorized, forbidden, too_large, ...
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}
        self.rejected_types = rejected_types or []  # event types refused, for metrics

    def body(self) -> dict[str, object]:
        return {
            "status": self.status,
            "error": self.reason,
            "message": self.message,
            "errors": [e.as_json() for e in self.errors],
        }


@dataclass
class Rejections:
    """Collects item errors while validating a batch, then raises them all at once."""

    errors: list[ItemError] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # of the failing items, for metrics

    def add(
        self,
        errors: list[FieldError],
        *,
        index: int | None = None,
        prefix: str = "",
        event_type: str = "unknown",
    ) -> None:
        for e in errors:
            self.errors.append(ItemError(prefix + e.pointer, e.message, index))
        self.types.append(event_type)

    def raise_if_any(self, message: str = "invalid input") -> None:
        if self.errors:
            raise RequestRejected(422, "invalid", message, self.errors, rejected_types=self.types)
