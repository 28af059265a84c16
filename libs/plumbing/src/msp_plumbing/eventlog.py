"""One JSON log line per handled event, on the logger `msp.events` at INFO:

    {"ts": "...", "level": "INFO", "service": "billing", "logger": "msp.events",
     "msg": "event applied", "event_id": "...", "event_type": "msp.ticket.time_logged.v1",
     "customer_id": "acme", "outcome": "applied", "group": "billing.main",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}

`outcome` says what the service did with it (the transactional consumer: applied,
duplicate, dead_lettered, or what the handler set in `Tx.outcomes`, e.g. incidents'
triage outcome; ingest: accepted, duplicate).
`trace_id` is the W3C trace the event belongs to (`msp_events.tracing`), the same in
every service the event and what it caused pass through: grep one id to follow an
alert from ingest to its incident, ticket and SLA events.

Lines are written only after the transaction that applied the events committed, so a
line means it happened. The logger's level is `MSP_EVENT_LOG_LEVEL` (default INFO;
WARNING turns the lines off without touching the service's other logs).
"""

from __future__ import annotations

import logging

from msp_events import Envelope
from msp_events.tracing import trace_id_of

EVENTS = logging.getLogger("msp.events")


def enabled() -> bool:
    """Check once per batch: building the lines costs CPU only when they are written."""
    return EVENTS.isEnabledFor(logging.INFO)


def handled(event: Envelope | None, *, outcome: str, group: str, **extra: object) -> None:
    """The line for one event. Without an event (an undecodable record) pass where it
    was read from in `extra` (topic, partition, offset)."""
    if not EVENTS.isEnabledFor(logging.INFO):
        return
    # `Logger.info` would also look up the caller's source line by walking the stack:
    # a line per event, and none of our formats writes it.
    EVENTS.handle(
        EVENTS.makeRecord(
            EVENTS.name,
            logging.INFO,
            __file__,
            0,
            "event %s",
            (outcome,),
            None,
            extra={
                "event_id": event.id if event is not None else None,
                "event_type": event.type if event is not None else None,
                "customer_id": event.customer_id if event is not None else None,
                "outcome": outcome,
                "group": group,
                "trace_id": trace_id_of(event),
                **extra,
            },
        )
    )
