"""One error body for every service and status: `{status, error, message, errors[]}`,
each item naming the field at fault as a JSON pointer (`/query/month`, `/period`).

`install_error_handlers(app)` renders `ApiError`, FastAPI's `HTTPException` and
request validation errors in that shape; `ERROR_RESPONSES` declares it in OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): ")


class ErrorItem(BaseModel):
    pointer: str
    message: str
    index: int | None = None


class ErrorBody(BaseModel):
    status: int
    error: str
    message: str
    errors: list[ErrorItem]


class ApiError(Exception):
    """Answer `status` with the one error body; `errors` are (pointer, message) pairs."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Sequence[tuple[str, str]] = (),
        *,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error or REASONS.get(status, "error")
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "message": self.message,
            "errors": [{"pointer": p, "message": m} for p, m in self.errors],
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(field: str, message: str) -> ApiError:
    """404 naming the path field; another tenant's object gets exactly this too."""
    return ApiError(404, f"{field}: {message}", [(f"/path/{field}", message)])


def _from_http_exception(exc: StarletteHTTPException) -> ApiError:
    detail: Any = exc.detail
    if isinstance(detail, Mapping) and "field" in detail:
        field, message = str(detail["field"]), str(detail.get("error", ""))
        return ApiError(exc.status_code, f"{field}: {message}", [(f"/{field}", message)])
    message = str(detail) if detail is not None else REASONS.get(exc.status_code, "error")
    match = _FIELD_PREFIX.match(message)
    errors = [(f"/{match[1]}", message[match.end() :])] if match else []
    return ApiError(exc.status_code, message, errors, headers=exc.headers)


def _pointer(loc: Sequence[Any]) -> str:
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    return "".join(f"/{p}" for p in parts)


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _from_http_exception(exc).response()

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [(_pointer(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
        message = "; ".join(f"{p or '/'}: {m}" for p, m in errors) or "invalid request"
        return ApiError(422, message, errors).response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "No credential, or one that does not verify"),
        (403, "Authenticated, but the role lacks the permission"),
        (404, "Not found (also another customer's object: no existence leak)"),
        (409, "Conflicts with the current state"),
        (422, "Invalid input; each error names the field as a JSON pointer"),
    )
}
