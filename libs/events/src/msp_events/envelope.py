"""The CloudEvents 1.0 envelope every record on every topic carries.

Wire format is CloudEvents *structured mode* JSON. Our extension attribute for the
tenant is written ``customerid`` on the wire because CloudEvents attribute names may
only use ``[a-z0-9]``; in Python it is `customer_id`, and on input both spellings are
accepted. ``dataschema`` is derived from ``type`` (which carries the version), so a
consumer can find the JSON Schema in ``docs/events/schemas/`` without guessing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from msp_events.base import EventData, Identifier, UtcDatetime

SPECVERSION = "1.0"
DATASCHEMA_PREFIX = "urn:msp:schema:"

EventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Unique per event; the idempotency key end to end.",
    ),
]


def dataschema_for(event_type: str) -> str:
    return f"{DATASCHEMA_PREFIX}{event_type}"


class Envelope(BaseModel):
    """Attributes common to every event. Concrete envelopes (one per event type, built
    in `msp_events.registry`) narrow `type` to a literal and `data` to its payload."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents version")
    id: EventId
    source: str = Field(
        min_length=1,
        max_length=256,
        description="URI-reference of the producer, e.g. /ingest/alertmanager",
    )
    type: str = Field(description="Event type incl. version, e.g. msp.ticket.created.v1")
    time: UtcDatetime = Field(description="Event time (when it happened), UTC")
    subject: str | None = Field(
        default=None, max_length=256, description="What the event is about, e.g. a ticket id"
    )
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = Field(
        default=None,
        validate_default=True,
        description="urn:msp:schema:<type>; derived from type when absent",
    )
    customer_id: Identifier = Field(
        serialization_alias="customerid",
        validation_alias=AliasChoices("customerid", "customer_id"),
        description="The MSP customer (tenant). Also the Kafka record key.",
    )
    traceparent: str | None = Field(default=None, description="W3C trace context extension")
    data: EventData = Field(description="The payload; its model is chosen by type")

    @field_validator("dataschema")
    @classmethod
    def _schema_matches_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        event_type = info.data.get("type")
        if event_type is None:  # type itself failed; that error names the field already
            return value
        expected = dataschema_for(event_type)
        if value is not None and value != expected:
            raise ValueError(f"must be {expected!r} for type {event_type!r}")
        return expected
