"""`RenewableProducer` on the real broker: a producer marked lost is replaced once by a
new one that sends; the runtime's producer is never stopped by it, its own is."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import ProducerClosed

from msp_devstack.testkit import read_topic
from msp_plumbing.producer import RenewableProducer, idempotent_producer

pytestmark = pytest.mark.integration


async def test_a_lost_producer_is_replaced_once_and_the_given_one_kept(
    kafka_bootstrap: str, topics: dict[str, str]
) -> None:
    given = idempotent_producer(kafka_bootstrap, client_id="test-given")
    await given.start()
    renewable = RenewableProducer(
        given, bootstrap_servers=kafka_bootstrap, client_id="test-renewed", start_timeout_s=30
    )
    try:
        assert await renewable.renew_if_lost() is given, "not lost: nothing to renew"
        renewable.mark_lost()
        first, second = await asyncio.gather(renewable.renew_if_lost(), renewable.renew_if_lost())
        assert first is second is renewable.current, "two callers, one new producer"
        assert first is not given and not renewable.lost
        await first.send_and_wait(topics["out"], b"renewed", key=b"cust-1")
        await given.send_and_wait(topics["out"], b"given", key=b"cust-1")  # still running
        values = sorted(r.value for r in await read_topic(kafka_bootstrap, topics["out"]))
        assert values == [b"given", b"renewed"]
    finally:
        await renewable.close()
        await given.stop()
    with pytest.raises(ProducerClosed):  # close() stopped the producer the renewal made
        await renewable.current.send(topics["out"], b"after close", key=b"cust-1")
