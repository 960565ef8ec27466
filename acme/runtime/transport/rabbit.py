"""RabbitMQ: one durable topic exchange; a durable queue per service and subject bound to it.

Two services consuming one subject get one queue each (both see every message); replicas of
one service share their queue (work sharing). Requests go to a queue `_rpc.<subject>` on the
default exchange and are answered through RabbitMQ's direct reply-to.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from faststream import AckPolicy
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind
from acme.runtime.wire import CONTENT_TYPE

__all__ = ["EXCHANGE", "RabbitTransport"]

EXCHANGE = RabbitExchange("acme", type=ExchangeType.TOPIC, durable=True)


class RabbitTransport(Transport):
    kind: ClassVar[BrokerKind] = "rabbit"

    def _make_broker(self) -> RabbitBroker:
        return RabbitBroker(
            self.url,
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        queue = RabbitQueue(f"{group}.{subject}", durable=True, routing_key=subject)
        sub = self.broker.subscriber(
            queue, EXCHANGE, ack_policy=AckPolicy.MANUAL, decoder=raw_body, no_reply=True, **doc
        )
        sub(handler)
        return sub

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        queue = RabbitQueue(RPC_PREFIX + subject, durable=False, auto_delete=True)
        sub = self.broker.subscriber(queue, decoder=raw_body, **doc)
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        if kind == "requests":  # a queue on the default exchange, named like the subject
            return self.broker.publisher(routing_key=RPC_PREFIX + subject, **doc)
        return self.broker.publisher(exchange=EXCHANGE, routing_key=subject, **doc)

    async def _purge(self, subject: str, group: str) -> None:
        queue = RabbitQueue(f"{group}.{subject}", durable=True, routing_key=subject)
        declared = await self.broker.declare_queue(queue)
        await declared.purge()

    def _delivery_count(self, message: Any) -> int | None:
        headers = getattr(message, "headers", {}) or {}
        if "x-delivery-count" in headers:  # quorum queues count deliveries
            return int(headers["x-delivery-count"]) + 1
        return 2 if getattr(message.raw_message, "redelivered", False) else 1

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        await self.broker.publish(
            body,
            exchange=EXCHANGE,
            routing_key=subject,
            headers=headers,
            content_type=headers.get(CONTENT_TYPE),
            message_id=dedupe_id,
            persist=True,
            mandatory=False,  # no bound queue yet is not an error: consumers may start later
        )

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        return await self.broker.request(body, subject, headers=headers, timeout=timeout)
