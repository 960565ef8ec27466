"""What still waits on the broker for the platform's consumers, whichever broker it is.

`backlog(url, consumers)` looks at each (subject, group) the platform consumes and reports,
per consumer, the messages not delivered yet and the ones delivered but not acknowledged, as
the broker itself counts them:

- NATS JetStream: the durable consumer's num_pending and num_ack_pending. With `consumers`
  None (a private embedded server), every consumer of every stream is looked at;
- RabbitMQ: the queue's ready messages (a passive declare; AMQP does not tell the unacked
  count to a client that is not the consumer, so unacked messages are counted once the
  consumer dies and they come back as ready);
- Redis streams: the group's lag (entries not delivered to it) and its pending entries list;
- Kafka: per partition, the end offset minus the committed offset of the service's group on
  that topic (`<service>.<topic>`; a message being processed counts until its offset is
  committed).

A consumer the broker does not know yet (its system never subscribed) has nothing waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from acme.runtime.settings import broker_kind

__all__ = ["Waiting", "backlog"]


@dataclass(frozen=True)
class Waiting:
    consumer: str
    undelivered: int
    unacked: int

    @property
    def total(self) -> int:
        return self.undelivered + self.unacked


async def backlog(
    url: str, consumers: Sequence[tuple[str, str]] | None
) -> tuple[int, list[Waiting]]:
    """(consumers looked at, those with something waiting) on the broker at `url`."""
    kind = broker_kind(url)
    if kind == "nats":
        return await _nats(url, consumers)
    if consumers is None:
        raise ValueError(f"name the consumers to look at on a shared {kind} broker ({url})")
    if kind == "rabbit":
        return await _rabbit(url, consumers)
    if kind == "redis":
        return await _redis(url, consumers)
    return await _kafka(url, consumers)


async def _nats(url: str, consumers: Sequence[tuple[str, str]] | None) -> tuple[int, list[Waiting]]:
    import nats
    from nats.js.errors import NotFoundError

    from acme.runtime.transport.nats import durable_name, stream_name

    found: list[Waiting] = []
    seen = 0
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=10)
        infos: list[Any] = []
        if consumers is None:
            for stream in await js.streams_info():
                assert stream.config.name is not None
                infos += await js.consumers_info(stream.config.name)
        else:
            for subject, group in consumers:
                with contextlib.suppress(NotFoundError):
                    infos.append(
                        await js.consumer_info(stream_name(subject), durable_name(group, subject))
                    )
        for info in infos:
            seen += 1
            waiting = Waiting(
                str(info.name), int(info.num_pending or 0), int(info.num_ack_pending or 0)
            )
            if waiting.total:
                found.append(waiting)
    finally:
        await nc.close()
    return seen, found


async def _rabbit(url: str, consumers: Sequence[tuple[str, str]]) -> tuple[int, list[Waiting]]:
    import aio_pika
    from aio_pika.exceptions import ChannelClosed

    from acme.runtime.transport.rabbit import events_queue

    found: list[Waiting] = []
    seen = 0
    connection = await aio_pika.connect(url, timeout=10)
    try:
        for subject, group in consumers:
            name = events_queue(subject, group).name
            # a passive declare of a missing queue closes the channel: one channel per queue
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except ChannelClosed:
                continue
            else:
                seen += 1
                ready = int(queue.declaration_result.message_count or 0)
                if ready:
                    found.append(Waiting(name, ready, 0))
            finally:
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()
    return seen, found


async def _redis(url: str, consumers: Sequence[tuple[str, str]]) -> tuple[int, list[Waiting]]:
    from redis.asyncio import from_url
    from redis.exceptions import ResponseError

    found: list[Waiting] = []
    seen = 0
    client = from_url(url)
    try:
        for subject, group in consumers:
            try:
                groups = await client.xinfo_groups(subject)
            except ResponseError:  # no such stream
                continue
            for info in groups:
                name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
                if name != group:
                    continue
                seen += 1
                lag = info.get("lag")
                if lag is None:  # Redis cannot tell (entries deleted): count what is after
                    after = await client.xrange(subject, f"({_id(info['last-delivered-id'])}")
                    lag = len(after or [])
                waiting = Waiting(f"{group}:{subject}", int(lag), int(info["pending"]))
                if waiting.total:
                    found.append(waiting)
    finally:
        await client.aclose()
    return seen, found


def _id(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _kafka(url: str, consumers: Sequence[tuple[str, str]]) -> tuple[int, list[Waiting]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

    from acme.runtime.transport.kafka import consumer_group

    servers = url.split("://", 1)[-1].rstrip("/").split(",")
    found: list[Waiting] = []
    seen = 0
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    reader = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await admin.start()
    await reader.start()
    try:
        topics = await reader.topics()
        for subject, group in consumers:
            if subject not in topics:
                continue
            partitions = [TopicPartition(subject, p) for p in reader.partitions_for_topic(subject)]
            group_id = consumer_group(group, subject)
            committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
            if all(_offset(committed.get(tp)) is None for tp in partitions):
                continue  # the group never committed on this topic
            seen += 1
            ends = await reader.end_offsets(partitions)
            behind = sum(max(0, ends[tp] - (_offset(committed.get(tp)) or 0)) for tp in partitions)
            if behind:
                found.append(Waiting(group_id, behind, 0))
    finally:
        await reader.stop()
        await admin.close()
    return seen, found


def _offset(committed: Any) -> int | None:
    """A committed offset; None for none (aiokafka reports -1 for a partition without one)."""
    offset = -1 if committed is None else int(committed.offset)
    return offset if offset >= 0 else None
