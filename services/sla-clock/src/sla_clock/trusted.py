"""`trusted(cls, values)`: a pydantic model from values that are valid by construction,
without validating them again (the shape of billing's guard of the same name; services
share no code but `libs/`).

Only for the events sla-clock builds itself on the consumer's hot path: the envelope
around a payload that was validated when it was built (`emissions.built_envelope`) and
the `SlaClockStarted` of a new clock (`clock.started_event`), whose every value comes
from a validated input or contract, or is an instant the caller checks. Validating
them again was the largest share of a created ticket's cost in profiles. The instance is
set up exactly as validation would (same `__dict__`, fields set, no extra, no private
state); a model with anything else falls back to `model_construct`. Callers must pass
only values validation would accept unchanged: `tests/test_clock.py::
test_built_events_equal_validated_ones` checks the result equals the validated model and
encodes to the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from msp_events.bounds import EARLIEST, LATEST

M = TypeVar("M", bound=BaseModel)

_setattr = object.__setattr__
_LAYOUTS: dict[type[BaseModel], tuple[str, ...] | None] = {}


def _layout(cls: type[BaseModel]) -> tuple[str, ...] | None:
    """The field names of `cls` in order, or None when an instance needs more than
    its `__dict__` set up (post-init, private state, extra fields): checked once."""
    if cls not in _LAYOUTS:
        plain = not (
            cls.__pydantic_post_init__
            or cls.__private_attributes__
            or cls.model_config.get("extra") == "allow"
        )
        _LAYOUTS[cls] = tuple(cls.__pydantic_fields__) if plain else None
    return _LAYOUTS[cls]


def trusted(cls: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """`cls` from `values` (every field; the dict becomes the instance's, not copied);
    `fields_set`: the fields a validating call would have been given (default: all)."""
    order = _layout(cls)
    if order is None or len(values) != len(order):
        return cls.model_construct(fields_set, **values)
    if tuple(values) != order:  # in the fields' order, as validation builds it (JSON
        if values.keys() != set(order):  # keys follow `__dict__`)
            return cls.model_construct(fields_set, **values)
        values = {name: values[name] for name in order}
    model = cls.__new__(cls)
    _setattr(model, "__dict__", values)
    _setattr(model, "__pydantic_fields_set__", set(order) if fields_set is None else fields_set)
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model


def utc_in_window(*instants: datetime) -> bool:
    """Whether every instant is what `UtcDatetime` validation returns unchanged: UTC
    (the very `UTC` tzinfo) and inside the contract's window."""
    for instant in instants:
        if instant.tzinfo is not UTC or not EARLIEST <= instant < LATEST:
            return False
    return True
