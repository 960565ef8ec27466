"""`Transport.purge`: a group starts on a used subject as if the broker were fresh.

What the harness relies on to run the system tests on shared brokers. On the session's broker
(embedded NATS, or ACME_TEST_BROKER_URL) always; on the machine's NATS, RabbitMQ and Redis with
ACME_EXTERNAL=1, and on a Kafka-compatible broker at ACME_KAFKA_URL when one answers there.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from acme.runtime.transport import Delivery, create_transport
from tests.systems import harness

EXTERNAL = [
    pytest.param("nats://127.0.0.1:4222", id="nats-4222", marks=pytest.mark.external),
    pytest.param("amqp://guest:guest@127.0.0.1:5672/", id="rabbit", marks=pytest.mark.external),
    pytest.param("redis://127.0.0.1:6379", id="redis", marks=pytest.mark.external),
    pytest.param(
        os.environ.get("ACME_KAFKA_URL", "kafka://127.0.0.1:9092"),
        id="kafka",
        marks=pytest.mark.external,
    ),
]


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


@pytest.fixture(params=["embedded", *EXTERNAL])
def url(request: pytest.FixtureRequest, broker_url: str) -> str:
    if request.param == "embedded":
        return broker_url
    if str(request.param).startswith("kafka:") and not _answers(str(request.param)):
        pytest.skip(f"no Kafka-compatible broker answers at {request.param} (ACME_KAFKA_URL)")
    return str(request.param)


async def _consume(
    url: str, tmp_path: Path, subject: str, group: str, *, purge: bool
) -> list[bytes]:
    """Start a consumer of `subject` in `group` (after purging, or not), publish b"new",
    and return what it received until b"new" arrived."""
    settings = harness.settings_for_tests(tmp_path, url)
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        got.append(delivery.body)
        await delivery.ack()
        if delivery.body == b"new":
            arrived.set()

    consumer = create_transport(url, settings)
    if purge:
        await consumer.purge(subject, group)
    consumer.subscribe(subject, group, collect)
    await consumer.start()
    try:
        await consumer.publish(subject, b"new", {"message-type": "probe"})
        async with asyncio.timeout(15):
            await arrived.wait()
        await asyncio.sleep(0.3)  # anything still queued behind it would arrive now
    finally:
        await consumer.stop_consuming()
        await consumer.close()
    return got


async def _leave_a_message_behind(url: str, tmp_path: Path, subject: str, group: str) -> None:
    """The group exists (queue, durable, consumer group) and has b"old" waiting."""
    await _consume(url, tmp_path, subject, group, purge=False)
    publisher = create_transport(url, harness.settings_for_tests(tmp_path, url))
    await publisher.connect()
    try:
        await publisher.publish(subject, b"old", {"message-type": "probe"})
    finally:
        await publisher.close()


@pytest.mark.parametrize("purge", [False, True], ids=["kept", "purged"])
async def test_purge_forgets_waiting_messages(url: str, tmp_path: Path, purge: bool) -> None:
    # Fixed names: nothing piles up on the shared brokers run after run (the first consume
    # takes whatever an earlier run left).
    subject, group = "acmetest.purge", "purge-test"
    await _leave_a_message_behind(url, tmp_path, subject, group)
    got = await _consume(url, tmp_path, subject, group, purge=purge)
    assert sorted(got) == ([b"new"] if purge else [b"new", b"old"])
