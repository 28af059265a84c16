"""Input checks every route of every service gets at the edge (`create_app` installs
them as an app-wide dependency), before a handler or Postgres sees the input.

* A NUL byte (``\\x00``, ``%00``) in a path or query parameter is a 422 naming the
  parameter, FastAPI's validation shape (``detail[].loc = ["query", "customer_id"]``):
  Postgres text cannot hold it, so it would otherwise end as a 500 from the driver.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

NUL = "\x00"
NUL_MESSAGE = "must not contain a NUL byte"


def _visible(text: str) -> str:
    return text.replace(NUL, "\\x00")


async def reject_nul_bytes(request: Request) -> None:
    """422 naming every path or query parameter that holds a NUL byte."""
    errors: list[dict[str, Any]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            errors.append({"type": "string_nul_byte", "loc": ("path", name), "msg": NUL_MESSAGE})
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            loc = ("query", _visible(name))
            errors.append({"type": "string_nul_byte", "loc": loc, "msg": NUL_MESSAGE})
    if errors:
        raise RequestValidationError(errors)
