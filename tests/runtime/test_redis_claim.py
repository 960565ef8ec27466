"""Redis streams: entries a dead consumer read but never acknowledged are delivered again.

Runs on the machine's Redis (127.0.0.1:6379, database 13); each test has a stream and group
of its own, deleted afterwards. A "crash" is a consumer of the group that reads an entry and
is never heard of again (as after `kill -9`): the entry stays in the group's pending entries
list until a running consumer's claim pass takes it over.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Transport, create_transport
from acme.runtime.transport.redis import consumer_prefix

from .helpers import wait_for, with_broker

REDIS = "redis://127.0.0.1:6379/13"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_answers(), reason="nothing answers on 127.0.0.1:6379 (Redis)"
)


@pytest.fixture
async def names() -> AsyncIterator[tuple[str, str]]:
    run = uuid.uuid4().hex[:10]
    subject, group = f"claim.{run}.order-placed", f"claim-ledger-{run}"
    yield subject, group
    client = Redis.from_url(REDIS)
    await client.delete(subject)
    await client.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS)
    yield client
    await client.aclose()


async def _publish_and_read(
    settings: Settings, redis: Redis, subject: str, group: str, reader: str, body: bytes
) -> bytes:
    """Publish one message and read it as consumer `reader` without acknowledging it."""
    producer = create_transport(REDIS, settings)
    await producer.connect()
    try:
        await redis.xgroup_create(subject, group, id="0", mkstream=True)
        await producer.publish(subject, body, {"message-id": body.decode()})
    finally:
        await producer.close()
    read = await redis.xreadgroup(group, reader, {subject: ">"}, count=10)
    ((_, entries),) = read
    assert len(entries) == 1
    entry_id: bytes = entries[0][0]
    return entry_id


async def _consume(
    settings: Settings, subject: str, group: str, got: list[Delivery], settle: str = "ack"
) -> Transport:
    async def on_message(delivery: Delivery) -> None:
        got.append(delivery)
        await (delivery.ack() if settle == "ack" else delivery.nack())

    transport = create_transport(REDIS, settings)
    transport.subscribe(subject, group, on_message)
    await transport.start()
    return transport


async def _pending(redis: Redis, subject: str, group: str) -> int:
    summary = await redis.xpending(subject, group)
    return int(summary["pending"])


async def test_an_entry_a_crashed_consumer_left_pending_is_delivered_after_the_ack_wait(
    settings: Settings, redis: Redis, names: tuple[str, str]
) -> None:
    subject, group = names
    configured = with_broker(settings, REDIS, ack_wait_seconds=0.5, consumer_concurrency=2)
    await _publish_and_read(configured, redis, subject, group, "crashed-elsewhere", b"m-1")
    got: list[Delivery] = []
    consumer = await _consume(configured, subject, group, got)
    try:
        await wait_for(lambda: len(got) == 1)
        assert got[0].body == b"m-1"
        assert got[0].headers["message-id"] == "m-1"
        assert got[0].delivery_count == 2  # read once by the crashed consumer
        await wait_for(lambda: got[0].settled == "ack")
        assert await _pending(redis, subject, group) == 0
    finally:
        await consumer.close()
    assert len(got) == 1


async def test_a_new_entry_is_delivered_once_with_count_one(
    settings: Settings, redis: Redis, names: tuple[str, str]
) -> None:
    subject, group = names
    configured = with_broker(settings, REDIS, ack_wait_seconds=0.3, consumer_concurrency=2)
    got: list[Delivery] = []
    consumer = await _consume(configured, subject, group, got)
    producer = create_transport(REDIS, configured)
    await producer.connect()
    try:
        await producer.publish(subject, b"fresh", {"message-id": "fresh"})
        await wait_for(lambda: len(got) == 1)
        await wait_for(lambda: got[0].settled == "ack")
        await asyncio.sleep(1.2)  # several claim passes: an acknowledged entry stays acked
        assert [d.delivery_count for d in got] == [1]
        assert await _pending(redis, subject, group) == 0
    finally:
        await producer.close()
        await consumer.close()


async def test_entries_of_a_dead_process_on_this_host_are_taken_over_at_start(
    settings: Settings, redis: Redis, names: tuple[str, str]
) -> None:
    subject, group = names
    # an ack wait far longer than the test: only the start pass can deliver in time
    configured = with_broker(settings, REDIS, ack_wait_seconds=600.0)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{consumer_prefix(group)}{int(gone.stdout)}-0"
    await _publish_and_read(configured, redis, subject, group, dead, b"orphan")
    got: list[Delivery] = []
    consumer = await _consume(configured, subject, group, got)
    try:
        await wait_for(lambda: len(got) == 1)
        assert got[0].body == b"orphan"
        assert got[0].delivery_count == 2
        await wait_for(lambda: got[0].settled == "ack")
        assert await _pending(redis, subject, group) == 0
        consumers = {c["name"] for c in await redis.xinfo_consumers(subject, group)}
        assert dead.encode() not in consumers and dead not in consumers
    finally:
        await consumer.close()


async def test_an_entry_whose_handler_keeps_dying_counts_up_to_the_dead_letter_threshold(
    settings: Settings, redis: Redis, names: tuple[str, str]
) -> None:
    """Each delivery ends without an ack (as when the process dies in the handler): the claim
    pass brings it back with a count one higher, so the runtime's consumer sees a count above
    max_attempts and dead-letters it (consumer.py) instead of trying forever."""
    subject, group = names
    configured = with_broker(settings, REDIS, ack_wait_seconds=0.2, consumer_concurrency=1)
    got: list[Delivery] = []
    dying = await _consume(configured, subject, group, got, settle="nack")
    producer = create_transport(REDIS, configured)
    await producer.connect()
    try:
        await producer.publish(subject, b"poison", {"message-id": "poison"})
        threshold = configured.max_attempts + 1
        await wait_for(lambda: len(got) >= threshold)
    finally:
        await producer.close()
        await dying.close()
    assert [d.delivery_count for d in got[:threshold]] == list(range(1, threshold + 1))
