"""Response schemas (for the OpenAPI document; the views build the same shapes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from msp_access.errors import ErrorBody


class AcceptedRead(BaseModel):
    status: Literal["accepted"] = "accepted"
    ids: list[str] = Field(description="Every event id of the request, in order")
    published: list[str] = Field(description="Ids new to the canonical topics")
    duplicates: list[str] = Field(description="Ids accepted before: not published again")
    truncated_alerts: int | None = Field(
        default=None, description="Alertmanager only: alerts left out of the notification"
    )


class PagerDutyRead(BaseModel):
    status: str = Field(description='"success", or "invalid event" etc. on errors')
    message: str
    dedup_key: str | None = None
    incident_key: str | None = Field(default=None, description="v1 requests only")
    errors: list[str] | None = None


ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (401, 403, 413, 415, 422, 429, 503)
}
