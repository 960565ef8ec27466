"""Raw FastStream on NATS JetStream: the ceiling the platform's messaging is compared with.

One FastStream `NatsBroker`, one JetStream stream (file storage, like the runtime's), one
publisher awaiting each PubAck from `publishers` concurrent tasks, and one durable pull
consumer with manual ack and `workers` messages in flight (the runtime's default consumer
shape). Messages carry a body of `payload_size` bytes and the runtime's set of headers, so
each one costs the broker what a platform message costs. No database, no validation, no
business logic: the difference to the checkout figures is what the platform adds.

    python -m benchmarks.raw_faststream --url nats://127.0.0.1:4222 --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub, StorageType
from faststream.nats.annotations import NatsMessage

__all__ = ["RawResult", "run_raw"]


@dataclass(frozen=True)
class RawResult:
    messages: int
    payload_size: int
    publishers: int
    workers: int
    batch_size: int
    seconds: float
    publish_seconds: float

    @property
    def msgs_per_s(self) -> float:
        """Publish + consume: messages acked by the consumer per second, first publish on."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def publish_per_s(self) -> float:
        return self.messages / self.publish_seconds if self.publish_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "publish_per_s": round(self.publish_per_s, 1),
        }


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
        "Nats-Msg-Id": message_id,
    }


async def _raw_body(message: Any) -> Any:
    # The body stays bytes, as in the runtime's consumers (which validate it themselves).
    return message.body


def _payload(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least the smallest JSON object)."""
    head = b'{"pad":"'
    tail = b'"}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


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
    """Publish `messages` and wait until the durable consumer has acked them all."""
    if messages < 1:
        raise ValueError(f"messages must be at least 1, got {messages}")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    subject = f"{name}.messages"
    broker = NatsBroker(url, logger=None, graceful_timeout=5.0)
    stream = JStream(name, subjects=[f"{name}.>"], storage=StorageType.FILE, duplicate_window=120)
    received = 0
    done = asyncio.Event()

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
        nonlocal received
        await message.ack()
        received += 1
        if received >= messages:
            done.set()

    publisher = broker.publisher(subject, stream=name, timeout=10.0)
    body = _payload(payload_size)
    await broker.start()
    try:
        queue = iter(range(messages))

        async def publish_some() -> None:
            for _ in queue:  # shared iterator: each task takes the next number
                message_id = str(uuid.uuid4())
                await publisher.publish(body, headers=_headers(message_id))

        started = time.perf_counter()
        await asyncio.gather(*(publish_some() for _ in range(max(1, publishers))))
        published = time.perf_counter()
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            raise RuntimeError(
                f"raw FastStream: only {received} of {messages} messages consumed "
                f"within {timeout:g}s on {subject}"
            ) from None
        finished = time.perf_counter()
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
        await _delete_stream(url, name)
    return RawResult(
        messages=messages,
        payload_size=len(body),
        publishers=publishers,
        workers=workers,
        batch_size=batch_size,
        seconds=finished - started,
        publish_seconds=published - started,
    )


async def _delete_stream(url: str, name: str) -> None:
    """Leave the broker as we found it (the stream lives in the platform's JetStream store)."""
    import nats

    with contextlib.suppress(Exception):
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.raw_faststream",
        description="Raw FastStream JetStream publish+consume throughput on one broker.",
    )
    parser.add_argument("--url", required=True, help="NATS URL, e.g. nats://127.0.0.1:4222")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--payload-size", type=int, default=400, help="body bytes")
    parser.add_argument("--publishers", type=int, default=20, help="concurrent publishers")
    parser.add_argument("--workers", type=int, default=8, help="consumer messages in flight")
    parser.add_argument("--batch-size", type=int, default=1, help="messages per pull")
    args = parser.parse_args(argv)
    if min(args.messages, args.publishers, args.workers, args.batch_size) < 1:
        parser.error("--messages, --publishers, --workers and --batch-size must be at least 1")
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
