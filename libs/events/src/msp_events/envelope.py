"""The CloudEvents 1.0 envelope every record on every topic carries.

Wire format is CloudEvents *structured mode* JSON. Our extension attribute for the
tenant is written ``customerid`` on the wire because CloudEvents attribute names may
only use ``[a-z0-9]``; in Python it is `customer_id`, and on input both spellings are
accepted. ``dataschema`` is derived from ``type`` (which carries the version), so a
consumer can find the JSON Schema in ``docs/events/schemas/`` without guessing.
``traceparent``/``tracestate`` are the CloudEvents distributed-tracing extension
(`msp_events.tracing`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from msp_events.base import EventData, Identifier, UtcDatetime

SPECVERSION = "1.0"
DATASCHEMA_PREFIX = "urn:msp:schema:"
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

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
    traceparent: str | None = Field(
        default=None,
        pattern=TRACEPARENT_PATTERN,
        description="CloudEvents distributed-tracing extension: the W3C traceparent "
        "(00-<trace id>-<span id>-<flags>) of the trace this event belongs to. Set by "
        "ingest on every canonical event; a derived event keeps its cause's trace id",
    )
    tracestate: str | None = Field(
        default=None,
        max_length=512,
        description="CloudEvents distributed-tracing extension: the W3C tracestate, "
        "passed on unchanged with traceparent",
    )
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

    @field_validator("traceparent")
    @classmethod
    def _trace_ids_not_zero(cls, value: str | None) -> str | None:
        # W3C: an all-zero trace or span id is invalid (the pattern cannot say so)
        if value is not None and ("-" + "0" * 32 + "-" in value or "-" + "0" * 16 + "-" in value):
            raise ValueError("trace id and parent id must not be all zeros")
        return value
