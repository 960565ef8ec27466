"""A service that starts after its producer still gets what was published before (outbox
relays of other systems publish as soon as they run, whatever the start order).

NATS (durable consumers deliver the whole stream), Redis (groups created at the start of the
stream) and Kafka (new groups read from the earliest offset) keep it. RabbitMQ does not: a
service's queue exists only once the service has started, and the exchange drops what no queue
is bound to yet, so it is not tested there.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from acme.runtime.transport import Delivery, create_transport
from tests.conformance.test_purge import EXTERNAL, _answers
from tests.systems import harness


@pytest.fixture(params=["session", *[p for p in EXTERNAL if p.id != "rabbit"]])
def url(request: pytest.FixtureRequest, broker_url: str) -> str:
    if request.param == "session":
        if broker_url.startswith("amqp"):
            pytest.skip("RabbitMQ drops messages published before the first consumer's queue")
        return broker_url
    if str(request.param).startswith("kafka:") and not _answers(str(request.param)):
        pytest.skip(f"no Kafka-compatible broker answers at {request.param}")
    return str(request.param)


async def test_messages_published_before_the_first_start_are_delivered(
    url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    subject, group = f"acmetest.first-{run}", f"first-start-{run}"
    settings = harness.settings_for_tests(tmp_path, url)
    producer = create_transport(url, settings)
    await producer.connect()
    try:
        await producer.publish(subject, b"early", {"message-type": "probe"})
    finally:
        await producer.close()

    got: list[bytes] = []
    arrived = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        got.append(delivery.body)
        await delivery.ack()
        arrived.set()

    consumer = create_transport(url, settings)
    consumer.subscribe(subject, group, collect)
    await consumer.start()
    try:
        async with asyncio.timeout(15):
            await arrived.wait()
    finally:
        await consumer.stop_consuming()
        await consumer.close()
        if not url.startswith("kafka"):
            cleanup = create_transport(url, settings)
            await cleanup.purge(subject, group)  # leave no consumer state on a shared broker
            await cleanup.close()
    assert got == [b"early"]
