"""Raw FastStream publish+consume: the ceiling the platform's messaging is compared with.

One FastStream broker of the kind the URL names, in the shape the runtime's adapter for that
kind uses (acme/runtime/transport/), so the baseline is what the same broker does for the same
messages with nothing of the platform around them:

- NATS JetStream (`nats://`): one stream (file storage, duplicate window, like the runtime's),
  a publisher awaiting each PubAck, one durable pull consumer with manual ack and `workers`
  messages in flight, `batch_size` messages per pull.
- RabbitMQ (`amqp://`): a durable topic exchange and a durable queue bound to it; persistent
  messages published with publisher confirms (FastStream's channel default), each awaited; one
  queue consumer with manual ack.
- Redis streams (`redis://`): one stream, one consumer group, `workers` consumers of the group
  (one polling loop each, like the runtime's `consumer_concurrency`), `batch_size` entries per
  XREADGROUP, XACK per entry; XADD per message.
- Kafka (`kafka://`): one topic, one consumer group with manual ack (offsets committed per
  message, as the runtime's adapter does), `batch_size` records per poll; each send awaited.

Messages carry a body of `payload_size` bytes and the runtime's set of headers, so each one
costs the broker what a platform message costs. No database, no validation, no business
logic: the difference to the checkout figures is what the platform adds. Everything created
(stream, exchange and queue, stream key, topic) is deleted afterwards.

    python -m benchmarks.raw_faststream --url nats://127.0.0.1:4222 --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from faststream import AckPolicy

# Module level: FastDepends resolves the handlers' (string) annotations in these globals.
from faststream.kafka.annotations import KafkaMessage
from faststream.nats.annotations import NatsMessage
from faststream.rabbit.annotations import RabbitMessage
from faststream.redis.annotations import RedisStreamMessage

from acme.runtime.settings import BrokerKind, broker_kind

__all__ = ["RawResult", "raw_shapes", "run_raw"]


@dataclass(frozen=True)
class RawResult:
    messages: int
    payload_size: int
    publishers: int
    workers: int
    batch_size: int
    seconds: float
    publish_seconds: float
    kind: str = "nats"
    shape: str = ""  # how the consumer reads, in words

    @property
    def msgs_per_s(self) -> float:
        """Publish + consume: messages acked by the consumer per second, first publish on."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def publish_per_s(self) -> float:
        return self.messages / self.publish_seconds if self.publish_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            **asdict(self),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "publish_per_s": round(self.publish_per_s, 1),
        }


def raw_shapes(kind: BrokerKind, workers: int = 8) -> list[tuple[int, int]]:
    """(workers, batch size) of the consumer shapes measured on a broker kind: the runtime's
    own shape first, then a batched one where FastStream offers it (the faster one counts)."""
    if kind == "rabbit":
        return [(1, 1)]  # one queue consumer; RabbitMQ pushes, there is no pull batch
    return [(workers, 1), (workers, 16)]


def _headers(message_id: str) -> dict[str, str]:
    # The header set a platform message carries (see acme.runtime.wire), same sizes.
    trace = uuid.uuid4().hex
    return {
        "message-id": message_id,
        "message-type": "benchmark-message",
        "message-version": "1.0.0",
        "correlation-id": str(uuid.uuid4()),
        "causation-id": str(uuid.uuid4()),
        "traceparent": f"00-{trace}-{trace[:16]}-01",
        "content-type": "application/json",
    }


async def _raw_body(message: Any) -> Any:
    # The body stays bytes, as in the runtime's consumers (which validate it themselves).
    return message.body


def _payload(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least the smallest JSON object)."""
    head = b'{"pad":"'
    tail = b'"}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


class _Counter:
    """Counts acked messages; `done` is set when all of them are in."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received = 0
        self.done = asyncio.Event()

    def add(self, n: int = 1) -> None:
        self.received += n
        if self.received >= self.expected:
            self.done.set()


Publish = Callable[[bytes, str], Awaitable[None]]  # (body, message id)


@dataclass
class _Setup:
    """A broker with its consumer registered, how to publish, and how to clean up."""

    broker: Any
    publish: Publish
    shape: str
    cleanup: Callable[[], Awaitable[None]]
    prepare: Callable[[], Awaitable[None]] | None = None  # before broker.start()


async def run_raw(
    url: str,
    *,
    messages: int = 5000,
    payload_size: int = 400,
    publishers: int = 20,
    workers: int = 8,
    batch_size: int = 1,
    timeout: float = 120.0,
) -> RawResult:
    """Publish `messages` and wait until the consumer has acked them all."""
    if messages < 1:
        raise ValueError(f"messages must be at least 1, got {messages}")
    if workers < 1 or batch_size < 1 or publishers < 1:
        raise ValueError(
            f"workers, batch_size and publishers must be at least 1, got "
            f"{workers}, {batch_size}, {publishers}"
        )
    kind = broker_kind(url)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    counter = _Counter(messages)
    builders = {"nats": _nats, "rabbit": _rabbit, "redis": _redis, "kafka": _kafka}
    setup = builders[kind](url, name, counter, workers, batch_size)
    body = _payload(payload_size)
    try:
        if setup.prepare is not None:
            await setup.prepare()
        await setup.broker.start()
        queue = iter(range(messages))

        async def publish_some() -> None:
            for _ in queue:  # shared iterator: each task takes the next number
                await setup.publish(body, str(uuid.uuid4()))

        started = time.perf_counter()
        await asyncio.gather(*(publish_some() for _ in range(publishers)))
        published = time.perf_counter()
        try:
            await asyncio.wait_for(counter.done.wait(), timeout)
        except TimeoutError:
            raise RuntimeError(
                f"raw FastStream ({kind}): only {counter.received} of {messages} messages "
                f"consumed within {timeout:g}s on {name}"
            ) from None
        finished = time.perf_counter()
    finally:
        with contextlib.suppress(Exception):
            await setup.broker.stop()
        with contextlib.suppress(Exception):
            await setup.cleanup()
    return RawResult(
        messages=messages,
        payload_size=len(body),
        publishers=publishers,
        workers=workers,
        batch_size=batch_size,
        seconds=finished - started,
        publish_seconds=published - started,
        kind=kind,
        shape=setup.shape,
    )


# ---------------------------------------------------------------------------------------------
# One builder per broker kind, each mirroring acme/runtime/transport/<kind>.py


def _nats(url: str, name: str, counter: _Counter, workers: int, batch_size: int) -> _Setup:
    from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub, StorageType

    subject = f"{name}.messages"
    broker = NatsBroker(url, logger=None, graceful_timeout=5.0)
    stream = JStream(name, subjects=[f"{name}.>"], storage=StorageType.FILE, duplicate_window=120)

    @broker.subscriber(
        subject,
        stream=stream,
        durable=f"{name}_consumer",
        pull_sub=PullSub(batch_size=batch_size, timeout=5.0),
        config=ConsumerConfig(max_ack_pending=max(workers * 4, 64)),
        max_workers=workers,
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
        no_reply=True,
    )
    async def consume(body: bytes, message: NatsMessage) -> None:
        await message.ack()
        counter.add()

    publisher = broker.publisher(subject, stream=name, timeout=10.0)

    async def publish(body: bytes, message_id: str) -> None:
        await publisher.publish(body, headers={**_headers(message_id), "Nats-Msg-Id": message_id})

    async def cleanup() -> None:
        # leave the broker as we found it (on the embedded broker the stream lives in the
        # platform's JetStream store)
        import nats

        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    shape = f"JetStream durable pull consumer, {workers} in flight, pull batch {batch_size}"
    return _Setup(broker, publish, shape, cleanup)


def _rabbit(url: str, name: str, counter: _Counter, workers: int, batch_size: int) -> _Setup:
    from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

    routing_key = f"{name}.messages"
    broker = RabbitBroker(url, logger=None, graceful_timeout=5.0)
    exchange = RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)
    queue = RabbitQueue(f"{name}.consumer", durable=True, routing_key=routing_key)

    @broker.subscriber(
        queue, exchange, ack_policy=AckPolicy.MANUAL, decoder=_raw_body, no_reply=True
    )
    async def consume(body: bytes, message: RabbitMessage) -> None:
        await message.ack()
        counter.add()

    async def publish(body: bytes, message_id: str) -> None:
        headers: dict[str, Any] = dict(_headers(message_id))
        await broker.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            content_type=headers["content-type"],
            message_id=message_id,
            persist=True,
            mandatory=False,
        )

    async def cleanup() -> None:
        import aio_pika

        connection = await aio_pika.connect(url, timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue.name)
            await channel.exchange_delete(name)

    shape = "durable queue, persistent messages, publisher confirms, one consumer"
    return _Setup(broker, publish, shape, cleanup)


def _redis(url: str, name: str, counter: _Counter, workers: int, batch_size: int) -> _Setup:
    from faststream.redis import RedisBroker, StreamSub

    stream = f"{name}.messages"
    group = f"{name}_group"
    # logger=None: no logging (the annotation does not admit it)
    broker = RedisBroker(url, logger=None, graceful_timeout=5.0, max_connections=2048)  # type: ignore[arg-type]

    async def consume_one(body: bytes, message: RedisStreamMessage) -> None:
        await message.ack()
        counter.add()

    # A batch's body is the entries re-encoded by FastStream as one JSON list: its own
    # decoder reads it back.
    async def consume_batch(body: list[Any], message: RedisStreamMessage) -> None:
        await message.ack()  # XACK of every entry of the batch
        counter.add(len(body))

    batched = batch_size > 1
    for worker in range(workers):
        sub = broker.subscriber(
            stream=StreamSub(
                stream,
                group=group,
                consumer=f"{name}-{worker}",
                polling_interval=1000,
                batch=batched,
                max_records=batch_size if batched else None,
            ),
            ack_policy=AckPolicy.MANUAL,
            decoder=None if batched else _raw_body,
            no_reply=True,
        )
        sub(consume_batch if batched else consume_one)

    async def prepare() -> None:
        client = await broker.connect()
        await client.xgroup_create(name=stream, groupname=group, id="0", mkstream=True)

    async def publish(body: bytes, message_id: str) -> None:
        await broker.publish(body, stream=stream, headers=_headers(message_id))

    async def cleanup() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            await client.delete(stream)
        finally:
            await client.aclose()

    shape = (
        f"consumer group, {workers} consumers, "
        + (f"{batch_size} entries per XREADGROUP" if batched else "one entry per XREADGROUP")
        + ", XACK"
    )
    return _Setup(broker, publish, shape, cleanup, prepare)


def _kafka(url: str, name: str, counter: _Counter, workers: int, batch_size: int) -> _Setup:
    from faststream.kafka import KafkaBroker

    servers = url.split("://", 1)[-1].rstrip("/").split(",")
    topic = f"{name}.messages"
    broker = KafkaBroker(servers, logger=None, graceful_timeout=5.0)
    batched = batch_size > 1

    async def consume_one(body: bytes, message: KafkaMessage) -> None:
        await message.ack()
        counter.add()

    async def consume_batch(body: list[Any], message: KafkaMessage) -> None:
        await message.ack()
        counter.add(len(body))

    sub = broker.subscriber(
        topic,
        group_id=f"{name}_group",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=None if batched else _raw_body,
        no_reply=True,
        batch=batched,
        max_records=batch_size if batched else None,
    )
    sub(consume_batch if batched else consume_one)

    async def prepare() -> None:
        # the topic exists before the group asks for its partitions
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            with contextlib.suppress(Exception):  # exists, or the broker creates on demand
                await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()

    async def publish(body: bytes, message_id: str) -> None:
        await broker.publish(body, topic, headers=_headers(message_id))

    async def cleanup() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()

    shape = "consumer group, manual ack (offset commit), " + (
        f"{batch_size} records per poll" if batched else "one record at a time"
    )
    return _Setup(broker, publish, shape, cleanup, prepare)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.raw_faststream",
        description="Raw FastStream publish+consume throughput on one broker "
        "(NATS JetStream, RabbitMQ, Redis streams or Kafka, by the URL's scheme).",
    )
    parser.add_argument(
        "--url",
        required=True,
        help="broker URL, e.g. nats://127.0.0.1:4222, amqp://guest:guest@127.0.0.1:5672/, "
        "redis://127.0.0.1:6379, kafka://127.0.0.1:9092",
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--payload-size", type=int, default=400, help="body bytes")
    parser.add_argument("--publishers", type=int, default=20, help="concurrent publishers")
    parser.add_argument("--workers", type=int, default=8, help="consumer messages in flight")
    parser.add_argument("--batch-size", type=int, default=1, help="messages per pull")
    args = parser.parse_args(argv)
    if min(args.messages, args.publishers, args.workers, args.batch_size) < 1:
        parser.error("--messages, --publishers, --workers and --batch-size must be at least 1")
    try:
        broker_kind(args.url)
    except Exception as exc:
        parser.error(f"--url: {exc}")
    result = asyncio.run(
        run_raw(
            args.url,
            messages=args.messages,
            payload_size=args.payload_size,
            publishers=args.publishers,
            workers=args.workers,
            batch_size=args.batch_size,
        )
    )
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
