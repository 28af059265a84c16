"""`trusted(cls, values)`: a pydantic model from values that are valid by construction,
without validating them again (the shape of billing's and sla-clock's guard of the same
name; services share no code but `libs/`).

Only for the events triage builds itself on the hot path (`outputs.py`: an incident
opened, its proactive ticket, an alert attached): every value comes from a validated
input event or contract, a derived id, or a rule's own text, and `outputs.py` checks the
few that could fall outside the contract (instants in UTC inside its window, text
lengths) before taking this path; otherwise the event is validated as usual. Validating
them again was a large share of a new alert's cost in profiles. The instance is set up
exactly as validation would (same `__dict__`, fields set, no extra, no private state);
a model with anything else falls back to `model_construct`.
`tests/test_trusted_outputs.py` checks with hypothesis that the events built this way
equal the validated ones and encode to the same bytes.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from msp_events.bounds import EARLIEST, LATEST

M = TypeVar("M", bound=BaseModel)

_setattr = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any], fields_set: Set[str]) -> M:
    """`cls` from `values` (every field); `fields_set`: the fields a validating call
    would have been given."""
    if (
        values.keys() != cls.__pydantic_fields__.keys()
        or cls.__pydantic_post_init__
        or cls.__private_attributes__
        or cls.model_config.get("extra") == "allow"
    ):
        return cls.model_construct(set(fields_set), **values)
    model = cls.__new__(cls)
    # in the fields' order, as validation builds it (JSON keys follow `__dict__`)
    _setattr(model, "__dict__", {name: values[name] for name in cls.__pydantic_fields__})
    _setattr(model, "__pydantic_fields_set__", set(fields_set))
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model


def utc_in_window(*instants: datetime) -> bool:
    """Whether every instant is what `UtcDatetime` validation returns unchanged: UTC
    (the very `UTC` tzinfo) and inside the contract's window."""
    return all(i.tzinfo is UTC and EARLIEST <= i < LATEST for i in instants)


def text_within(value: str | None, longest: int) -> bool:
    """Whether a text field of 1..`longest` characters (or absent) keeps `value`."""
    return value is None or 1 <= len(value) <= longest
