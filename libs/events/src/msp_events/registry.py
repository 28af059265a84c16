"""Every event type, and one concrete envelope class per type.

`AnyEvent` is the discriminated union (on the envelope's `type`) that parsing uses:
the payload model is chosen by `type`, so `event.data` is always the typed payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from msp_events.base import EventData
from msp_events.envelope import Envelope
from msp_events.topics import TOPICS

PAYLOADS: dict[str, type[EventData]] = {}
for _topic in TOPICS:
    if _topic.raw:
        continue
    for _cls in _topic.event_types:
        if _cls.event_type in PAYLOADS:
            raise RuntimeError(f"event type {_cls.event_type} is on two canonical topics")
        PAYLOADS[_cls.event_type] = _cls


def _envelope_class(payload: type[EventData]) -> type[Envelope]:
    model: type[Envelope] = create_model(
        payload.__name__ + "Event",
        __base__=Envelope,
        __doc__=payload.__doc__,
        type=(Literal[payload.event_type], Field(description="The event type (discriminator)")),  # type: ignore[arg-type]
        data=(payload, Field(description=f"The {payload.__name__} payload")),
    )
    return model


ENVELOPES: dict[str, type[Envelope]] = {t: _envelope_class(p) for t, p in PAYLOADS.items()}

if TYPE_CHECKING:
    AnyEvent = Envelope
else:
    AnyEvent = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="type")]  # noqa: UP007

ANY_EVENT: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def envelope_class(event_type: str) -> type[Envelope]:
    try:
        return ENVELOPES[event_type]
    except KeyError:
        raise KeyError(f"unknown event type {event_type!r}") from None
