"""Watching the broker for checkout outcomes, on any broker kind the runtime supports.

`OutcomeWatcher` observes the subjects of checkout-completed and checkout-failed (from the
generated registry) without taking part in the platform's delivery: it joins no consumer
group and leaves nothing on the broker.

- NATS: a core subscription on each subject (JetStream-captured subjects reach core
  subscribers too);
- RabbitMQ: an exclusive, auto-deleted queue bound to the runtime's exchange per subject;
- Redis streams: XREAD (no group) from the end of each stream;
- Kafka: a consumer without a group from the end of each topic.

A checkout's terminal moment is the first time its terminal message is seen here, that is
after the checkout system committed the state with the message in its outbox and the relay
published it. Redeliveries are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from faststream import AckPolicy

from acme.runtime.settings import broker_kind

__all__ = ["TERMINAL_MESSAGES", "OutcomeWatcher", "terminal_subjects"]

TERMINAL_MESSAGES = {"checkout-completed": "COMPLETED", "checkout-failed": "FAILED"}


def terminal_subjects() -> dict[str, str]:
    """Subject -> message id of checkout-completed/failed, from the generated registry."""
    from generated import catalog

    subjects: dict[str, str] = {}
    for service in catalog.SERVICES.values():
        for route in service.sends:
            if route.message in TERMINAL_MESSAGES and route.address:
                subjects[route.address] = route.message
    if set(subjects.values()) != set(TERMINAL_MESSAGES):
        raise RuntimeError(
            "the registry names no subject for checkout-completed/checkout-failed: "
            "is generated/ up to date?"
        )
    return subjects


async def _raw_body(message: Any) -> Any:
    return message.body


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None if value is None else str(value)


class OutcomeWatcher:
    """Observer of the terminal checkout subjects: checkout id -> (time, status)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self._subjects: dict[str, str] = {}

    def observe(self, subject: str, headers: Mapping[str, Any] | None, body: bytes) -> None:
        """Record one message seen on `subject` (public for tests)."""
        at = time.perf_counter()
        kind = _header(headers, "message-type") or self._subjects.get(subject)
        status = TERMINAL_MESSAGES.get(str(kind))
        if status is None:
            return
        try:
            checkout_id = str(json.loads(body)["checkoutId"])
        except (ValueError, KeyError, TypeError):
            return
        if checkout_id in self.seen:
            return  # a redelivery: the first sighting is the terminal moment
        self.seen[checkout_id] = (at, status)
        waiter = self._waiters.pop(checkout_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result((at, status))

    @contextlib.asynccontextmanager
    async def running(
        self, url: str, subjects: Mapping[str, str] | None = None
    ) -> AsyncIterator[OutcomeWatcher]:
        """Watch the broker at `url` (its kind chosen by the scheme) inside the block, on
        `subjects` (subject -> message id; default: the registry's terminal subjects)."""
        self._subjects = dict(subjects) if subjects is not None else terminal_subjects()
        broker = self._broker(url)
        await broker.start()
        try:
            yield self
        finally:
            with contextlib.suppress(Exception):
                await broker.stop()

    def _handler(self, broker: Any, subject: str) -> Any:
        async def handle(body: Any) -> None:
            # the message from the broker's context, as the runtime's transport reads it
            message = broker.context.get_local("message")
            headers = getattr(message, "headers", None)
            raw = body if isinstance(body, bytes) else bytes(getattr(message, "body", b""))
            self.observe(subject, headers, raw)

        return handle

    def _broker(self, url: str) -> Any:
        kind = broker_kind(url)
        tag = uuid.uuid4().hex[:10]
        common: dict[str, Any] = {"decoder": _raw_body, "no_reply": True}
        if kind == "nats":
            from faststream.nats import NatsBroker

            nats_broker = NatsBroker(url, logger=None, graceful_timeout=2.0)
            for subject in self._subjects:
                nats_broker.subscriber(subject, **common)(self._handler(nats_broker, subject))
            return nats_broker
        if kind == "rabbit":
            from faststream.rabbit import RabbitBroker, RabbitQueue

            from acme.runtime.transport.rabbit import EXCHANGE

            rabbit_broker = RabbitBroker(url, logger=None, graceful_timeout=2.0)
            for n, subject in enumerate(self._subjects):
                queue = RabbitQueue(
                    f"bench-watch-{tag}-{n}",
                    durable=False,
                    exclusive=True,
                    auto_delete=True,
                    routing_key=subject,
                )
                sub = rabbit_broker.subscriber(
                    queue, EXCHANGE, ack_policy=AckPolicy.ACK_FIRST, **common
                )
                sub(self._handler(rabbit_broker, subject))
            return rabbit_broker
        if kind == "redis":
            from faststream.redis import RedisBroker, StreamSub

            # logger=None: no logging (the annotation does not admit it)
            redis_broker = RedisBroker(url, logger=None, graceful_timeout=2.0)  # type: ignore[arg-type]
            for subject in self._subjects:
                sub = redis_broker.subscriber(
                    stream=StreamSub(subject, last_id="$", polling_interval=1000), **common
                )
                sub(self._handler(redis_broker, subject))
            return redis_broker
        from faststream.kafka import KafkaBroker

        servers = url.split("://", 1)[-1].rstrip("/").split(",")
        kafka_broker = KafkaBroker(servers, logger=None, graceful_timeout=2.0)
        for subject in self._subjects:
            sub = kafka_broker.subscriber(subject, auto_offset_reset="latest", **common)
            sub(self._handler(kafka_broker, subject))
        return kafka_broker

    async def wait(self, checkout_id: str, timeout: float) -> tuple[float, str] | None:
        if checkout_id in self.seen:
            return self.seen[checkout_id]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[checkout_id] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(checkout_id, None)
