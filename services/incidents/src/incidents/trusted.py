"""The guard of the events triage builds itself on the hot path without validating
them again (`outputs.py`: an incident opened, its proactive ticket, an alert attached;
`msp_events.trusted.construct` builds them). Every value comes from a validated input
event or contract, a derived id, or a rule's own text; `outputs.py` checks the few that
could fall outside the contract (instants in UTC inside its window, text lengths, scope
targets) before taking this path, otherwise the event is validated as usual.
Validating them again was a large share of a new alert's cost in profiles.
`tests/test_trusted_outputs.py` checks with hypothesis that the events built this way
equal the validated ones and encode to the same bytes.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from msp_events.bounds import EARLIEST, LATEST
from msp_events.trusted import construct

M = TypeVar("M", bound=BaseModel)


def trusted(cls: type[M], values: dict[str, Any], fields_set: Set[str]) -> M:
    """`cls` from `values` (every field, any order: laid out in the fields' order, as
    validation does); `fields_set`: the fields a validating call would have been given."""
    return construct(cls, {name: values[name] for name in cls.__pydantic_fields__}, fields_set)


def utc_in_window(*instants: datetime) -> bool:
    """Whether every instant is what `UtcDatetime` validation returns unchanged: UTC
    (the very `UTC` tzinfo) and inside the contract's window."""
    return all(i.tzinfo is UTC and EARLIEST <= i < LATEST for i in instants)


def text_within(value: str | None, longest: int) -> bool:
    """Whether a text field of 1..`longest` characters (or absent) keeps `value`."""
    return value is None or 1 <= len(value) <= longest
