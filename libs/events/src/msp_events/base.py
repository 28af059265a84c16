"""Building blocks shared by every event payload.

Conventions (read once, then every `types/` module follows them):

* A payload is a frozen pydantic model subclassing `EventData`, with a ClassVar
  `event_type` (e.g. ``"msp.ticket.created.v1"``). The version lives in the type:
  an incompatible change is a new type, so old consumers never misread new data.
* Unknown fields are rejected (`extra="forbid"`): a typo in a producer is an error
  naming the field, not silently dropped data.
* Times are `UtcDatetime`: timezone-aware on input, normalised to UTC inside, and
  inside the contract's window (2000-01-01 to before 2100-01-01, `msp_events.bounds`),
  so no instant can overflow arithmetic downstream. Customer-local time exists only
  at the edges that need it (calendars, invoices): wall-clock times are written
  "HH:MM" ("24:00" ends a day) and published as a string pattern, not JSON Schema's
  `format: time` (RFC 3339 wants seconds and an offset).
* Money is `Money` (Decimal, serialised as a string), never float. On the billing
  events every amount is written at its currency's ISO 4217 minor unit (JPY "74250",
  USD "300.00", KWD "1.250"), rounded half-up once per line; unit prices keep up to 4
  places (`msp_events/money.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from msp_events.bounds import EARLIEST, INSTANT_RANGE, LATEST, check_instant


def _to_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise ValueError(f"instant out of range: must be {INSTANT_RANGE}") from None
    return check_instant(utc)


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    # ajv-formats keywords: a validator that knows them enforces the window, others
    # keep them as documentation.
    Field(
        json_schema_extra={
            "formatMinimum": EARLIEST.isoformat().replace("+00:00", "Z"),
            "formatExclusiveMaximum": LATEST.isoformat().replace("+00:00", "Z"),
        }
    ),
]
"""A timezone-aware instant, normalised to UTC, inside the contract's window
(`msp_events.bounds`). Naive datetimes are rejected."""


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
"""An IANA time zone name such as ``Europe/London``."""

PLAIN_DECIMAL = PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")
"""How every Decimal is written: positional, never "1E+2" (which the published decimal
pattern, and many consumers, would not accept)."""

Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4), PLAIN_DECIMAL]
"""An amount of money in the contract's currency. Decimal, serialised as a string."""

NonNegativeMoney = Annotated[Money, Field(ge=0)]

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]

Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"),
]
"""An opaque id issued by the system that owns the thing (ticket id, device id, ...)."""

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
"""ITIL priority, P1 most urgent."""

Severity = Literal["critical", "major", "minor", "warning", "info"]

Tier = Literal["on_demand", "managed", "managed_vip"]
"""Customer tier. VIP goes ahead of managed at equal priority; on-demand pays hourly."""


class EventData(BaseModel):
    """Base of every event payload. Subclasses set `event_type` and document who
    emits the event and what it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]


class Part(BaseModel):
    """Base of nested value objects inside payloads (same strictness as EventData)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
