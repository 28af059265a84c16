"""The Kafka producer every writer uses (idempotent, acks=all), and `RenewableProducer`:
the one way to replace a producer that was lost for good.

After one of `FATAL_PRODUCER_ERRORS` aiokafka's producer sends nothing more (its
sender task ends and later sends wait forever): seen when the broker comes back from a
restart without the producer's sequence state. Only a new producer (a new producer id)
recovers. The outbox relay and ingest's claims each hold a `RenewableProducer`: they
`mark_lost()` when they see such an error and `renew_if_lost()` before their next send.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber, ProducerFenced

from msp_plumbing.supervise import within

log = logging.getLogger(__name__)

STOP_PRODUCER_S = 5.0

FATAL_PRODUCER_ERRORS: tuple[type[BaseException], ...] = (OutOfOrderSequenceNumber, ProducerFenced)
"""Errors after which aiokafka's producer sends nothing more; only a new producer
recovers (`RenewableProducer`)."""


def idempotent_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


async def stop_producer(producer: AIOKafkaProducer) -> None:
    """Stop a producer, giving up after `STOP_PRODUCER_S` (a lost one may not stop)."""
    try:
        async with asyncio.timeout(STOP_PRODUCER_S):
            await producer.stop()
    except Exception as exc:  # a lost producer may not stop cleanly: nothing to save
        log.info("a lost producer did not stop cleanly: %r", exc)


class RenewableProducer:
    """`current` is the producer to send with: the one the runtime gave (shared, the
    runtime starts and stops it) until it is lost, then one of our own. A renewal
    stops the lost producer unless it is the given one; `close` stops ours."""

    def __init__(
        self,
        given: AIOKafkaProducer,
        *,
        bootstrap_servers: str,
        client_id: str,
        start_timeout_s: float | None = None,
    ) -> None:
        self.current = given
        self.lost = False
        self._given = given
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._start_timeout_s = start_timeout_s
        self._renewing = asyncio.Lock()

    def mark_lost(self) -> None:
        """`current` hit one of `FATAL_PRODUCER_ERRORS`: the next `renew_if_lost`
        replaces it."""
        self.lost = True

    async def renew_if_lost(self) -> AIOKafkaProducer:
        """`current`, replaced first by a new started producer if it was lost (once,
        however many callers ask at the same time). A failed start leaves it lost."""
        async with self._renewing:
            if not self.lost:
                return self.current
            fresh = idempotent_producer(self._bootstrap_servers, client_id=self._client_id)
            if self._start_timeout_s is None:
                await fresh.start()
            else:
                await within(fresh.start(), self._start_timeout_s)
            lost, self.current = self.current, fresh
            self.lost = False
            log.warning("%s sends on a new producer (the previous one was lost)", self._client_id)
        if lost is not self._given:
            await stop_producer(lost)
        return fresh

    async def close(self) -> None:
        """Stop the producer a renewal made, if any (the runtime stops the given one)."""
        if self.current is not self._given:
            await stop_producer(self.current)
