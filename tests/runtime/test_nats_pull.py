"""The NATS transport's own pull loop on the embedded NATS: pull requests stay open, messages
are handed over as they arrive, expired requests are renewed, max_workers still holds."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Transport, create_transport
from acme.runtime.transport import nats as nats_transport

from .helpers import raw_publisher, wait_for, with_broker


def _subject() -> str:
    # a subject (and so a durable) of its own per test: the module shares one server
    return f"pulltest.events.t{uuid.uuid4().hex[:12]}"


@dataclass
class _Pair:
    """A raw publisher and a pull consumer on a subject of their own."""

    producer: Transport
    subject: str
    got: list[Delivery] = field(default_factory=list)
    running: list[int] = field(default_factory=lambda: [0, 0])  # now, most at once


@contextlib.asynccontextmanager
async def _pair(url: str, settings: Settings, *, hold: float = 0.0) -> AsyncIterator[_Pair]:
    pair = _Pair(await raw_publisher(url, settings), _subject())

    async def on_message(delivery: Delivery) -> None:
        pair.running[0] += 1
        pair.running[1] = max(pair.running[1], pair.running[0])
        try:
            if hold:
                await asyncio.sleep(hold)
            pair.got.append(delivery)
            await delivery.ack()
        finally:
            pair.running[0] -= 1

    consumer = create_transport(url, settings)
    consumer.subscribe(pair.subject, "pull-test", on_message)
    try:
        await consumer.start()
        yield pair
    finally:
        await consumer.close()
        await pair.producer.close()


async def _publish(producer: Transport, subject: str, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for message_id in ids:
        await producer.publish(subject, b"{}", {"message-id": message_id}, dedupe_id=message_id)
    return ids


async def test_a_burst_larger_than_the_pull_batch_arrives_once_within_max_workers(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)  # consumer_concurrency=4
    async with _pair(nats_url, configured, hold=0.01) as pair:
        ids = await _publish(pair.producer, pair.subject, 40)
        await wait_for(lambda: len(pair.got) >= 40)
        await asyncio.sleep(0.2)  # nothing more may come
        assert sorted(d.headers["message-id"] for d in pair.got) == sorted(ids)
        assert all(d.delivery_count == 1 for d in pair.got)
        assert 1 <= pair.running[1] <= configured.consumer_concurrency


async def test_one_message_is_not_held_back_until_its_pull_request_expires(
    settings: Settings, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request for several messages stays open far longer than the test waits: the single
    # message published into it must be handed over on arrival, not when the batch is full.
    monkeypatch.setattr(nats_transport, "PULL_EXPIRES_SECONDS", 60.0)
    async with _pair(nats_url, with_broker(settings, nats_url)) as pair:
        await asyncio.sleep(0.3)  # the consumer is idle, its pull request open
        [message_id] = await _publish(pair.producer, pair.subject, 1)
        await wait_for(lambda: len(pair.got) == 1, timeout=10.0)
        assert pair.got[0].headers["message-id"] == message_id


async def test_an_idle_consumer_renews_its_expired_pull_requests(
    settings: Settings, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nats_transport, "PULL_EXPIRES_SECONDS", 0.2)
    async with _pair(nats_url, with_broker(settings, nats_url)) as pair:
        await asyncio.sleep(1.0)  # several requests expire (408 with their pending count)
        ids = await _publish(pair.producer, pair.subject, 6)
        await wait_for(lambda: len(pair.got) >= 6)
        assert sorted(d.headers["message-id"] for d in pair.got) == sorted(ids)


async def test_a_nacked_message_comes_back_through_the_open_requests(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    subject = _subject()
    producer = await raw_publisher(nats_url, configured)
    counts: list[int | None] = []

    async def on_message(delivery: Delivery) -> None:
        counts.append(delivery.delivery_count)
        if len(counts) == 1:
            await delivery.nack()
        else:
            await delivery.ack()

    consumer = create_transport(nats_url, configured)
    consumer.subscribe(subject, "pull-test", on_message)
    await consumer.start()
    try:
        await _publish(producer, subject, 1)
        await wait_for(lambda: len(counts) >= 2)
        assert counts[:2] == [1, 2]
    finally:
        await consumer.close()
        await producer.close()


async def test_publishing_declares_a_stream_deleted_under_it_again(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    subject = f"pullgone{uuid.uuid4().hex[:8]}.events.created"
    producer = await raw_publisher(nats_url, configured)
    try:
        await _publish(producer, subject, 1)  # declares the stream
        js = producer.broker.config.connection_state.stream
        name = nats_transport.stream_name(subject)
        await js.delete_stream(name)
        await _publish(producer, subject, 1)  # no stream answers: declared again, sent once
        info = await js.stream_info(name)
        assert info.state.messages == 1
    finally:
        await producer.close()


async def test_stop_consuming_waits_for_the_messages_being_handled(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    subject = _subject()
    producer = await raw_publisher(nats_url, configured)
    started = asyncio.Event()
    finished: list[str] = []

    async def on_message(delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(0.3)
        await delivery.ack()
        finished.append(delivery.headers["message-id"])

    consumer = create_transport(nats_url, configured)
    consumer.subscribe(subject, "pull-test", on_message)
    await consumer.start()
    try:
        [message_id] = await _publish(producer, subject, 1)
        await asyncio.wait_for(started.wait(), 10.0)
        await consumer.stop_consuming()
        assert finished == [message_id]
    finally:
        await consumer.close()
        await producer.close()


async def test_a_callback_that_raises_has_its_message_redelivered(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    subject = _subject()
    producer = await raw_publisher(nats_url, configured)
    counts: list[int | None] = []

    async def on_message(delivery: Delivery) -> None:
        counts.append(delivery.delivery_count)
        if len(counts) == 1:
            raise RuntimeError("a runtime bug")
        await delivery.ack()

    consumer = create_transport(nats_url, configured)
    consumer.subscribe(subject, "pull-test", on_message)
    await consumer.start()
    try:
        await _publish(producer, subject, 1)
        await wait_for(lambda: len(counts) >= 2)
        assert counts[:2] == [1, 2]
    finally:
        await consumer.close()
        await producer.close()
