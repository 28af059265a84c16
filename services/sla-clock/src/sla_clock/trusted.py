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


def trusted(cls: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """`cls` from `values` (every field); `fields_set`: the fields a validating call
    would have been given (default: all)."""
    if (
        values.keys() != cls.__pydantic_fields__.keys()
        or cls.__pydantic_post_init__
        or cls.__private_attributes__
        or cls.model_config.get("extra") == "allow"
    ):
        return cls.model_construct(fields_set, **values)
    model = cls.__new__(cls)
    # in the fields' order, as validation builds it (JSON keys follow `__dict__`)
    _setattr(model, "__dict__", {name: values[name] for name in cls.__pydantic_fields__})
    _setattr(model, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model


def utc_in_window(*instants: datetime) -> bool:
    """Whether every instant is what `UtcDatetime` validation returns unchanged: UTC
    (the very `UTC` tzinfo) and inside the contract's window."""
    return all(i.tzinfo is UTC and EARLIEST <= i < LATEST for i in instants)
