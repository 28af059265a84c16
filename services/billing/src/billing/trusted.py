"""`trusted(cls, values)`: a pydantic model from values that are valid by
construction, without validating them again.

Only for the consumer's hot path (a `LineItemRecorded` and its envelope per line),
where pydantic's `model_construct` alone was the largest single cost: it walks every
field looking for aliases and defaults. Here every field is given, so the instance is
set up exactly as `model_construct` would (same `__dict__`, fields set, no extra, no
private state); anything else falls back to `model_construct`. Callers must only pass
values that validation would accept unchanged; `test_pricing.py::
test_constructed_line_items_validate` checks the result equals the validated model and
serialises to the same bytes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_setattr = object.__setattr__


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    if (
        values.keys() != cls.__pydantic_fields__.keys()
        or cls.__pydantic_post_init__
        or cls.__private_attributes__
        or cls.model_config.get("extra") == "allow"
    ):
        return cls.model_construct(**values)
    model = cls.__new__(cls)
    _setattr(model, "__dict__", values)
    _setattr(model, "__pydantic_fields_set__", set(values))
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model
