"""What the adapters share: error pointers, identifier checks, severity mapping."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_args

from pydantic import ValidationError

from msp_events import FieldError
from msp_events.base import Severity
from msp_events.types.monitoring import CheckKind

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
CHECK_KINDS: frozenset[str] = frozenset(get_args(CheckKind))

SEVERITIES: dict[str, Severity] = {
    "critical": "critical",
    "page": "critical",
    "error": "major",
    "major": "major",
    "high": "major",
    "minor": "minor",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
"""Source severities -> ours. PagerDuty's four map exactly (error -> major); for
Alertmanager's free-form `severity` label an unknown value means `warning`."""


def severity_of(value: str | None, default: Severity = "warning") -> Severity:
    return SEVERITIES.get((value or "").strip().lower(), default)


def escape(part: object) -> str:
    """One JSON pointer reference token (RFC 6901)."""
    return str(part).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(*parts: object) -> str:
    return "".join(f"/{escape(p)}" for p in parts)


def pydantic_errors(exc: ValidationError, *, prefix: Sequence[object] = ()) -> list[FieldError]:
    return [
        FieldError(pointer(*prefix, *err["loc"]), err["msg"])
        for err in exc.errors(include_url=False)
    ]


def valid_identifier(value: str) -> bool:
    return 0 < len(value) <= 128 and IDENTIFIER.match(value) is not None


def clip(text: str | None, limit: int) -> str | None:
    """Free text is shortened rather than refused: an over-long annotation must not
    cost the alert."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"
