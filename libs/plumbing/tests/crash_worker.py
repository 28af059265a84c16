"""A minimal stateful service for the plumbing's crash tests, run as a subprocess.

For each TicketCreated on the tickets topic it records the ticket in `seen` and emits
a TicketAssigned with a derived id to the topic named by CRASH_OUT_TOPIC. With
MSP_CRASH_POINT set, it SIGKILLs itself at that step (see msp_plumbing.crashpoints).
Configured entirely by environment variables, like a real service.
"""

from __future__ import annotations

import asyncio
import os
import signal

from msp_events import Envelope, derive_event_id, make_event
from msp_events.topics import TICKETS
from msp_events.types.tickets import TicketAssigned, TicketCreated
from msp_plumbing.consumer import Tx
from msp_plumbing.jsonlog import configure_logging
from msp_plumbing.runtime import ServiceRuntime
from msp_plumbing.settings import ServiceSettings

SEEN_DDL = """CREATE TABLE IF NOT EXISTS seen (
    ticket_id text PRIMARY KEY, event_id text NOT NULL, seen_at timestamptz DEFAULT now())"""


def make_handler(out_topic: str, poison_ticket: str | None = None):  # type: ignore[no-untyped-def]
    async def handle(tx: Tx, event: Envelope) -> None:
        if not isinstance(event.data, TicketCreated):
            return
        if event.data.ticket_id == poison_ticket:
            raise ValueError(f"cannot triage {poison_ticket}")
        await tx.conn.execute(
            "INSERT INTO seen (ticket_id, event_id) VALUES ($1, $2)",
            event.data.ticket_id,
            event.id,
        )
        assigned = TicketAssigned(
            ticket_id=event.data.ticket_id, team="crash-test", assigned_at=event.time
        )
        tx.emit(
            make_event(
                assigned,
                customer_id=event.customer_id,
                source="/crash-worker",
                time=event.time,
                subject=event.data.ticket_id,
                id=derive_event_id(event.id, "assigned"),
            ),
            topic=out_topic,
        )

    return handle


async def main() -> None:
    settings = ServiceSettings()  # type: ignore[call-arg]  # from the environment
    configure_logging(settings.service_name, "INFO")
    runtime = ServiceRuntime(settings)
    runtime.add_consumer("main", [TICKETS], make_handler(os.environ["CRASH_OUT_TOPIC"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await runtime.start()
    await stop.wait()
    await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main())
