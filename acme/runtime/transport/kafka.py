"""Kafka: one topic per subject, consumer group id = service id, offsets committed on ack.

Requests use a topic `_rpc.<subject>` in the service's group. Not proven against a running
Kafka on the development machine (none was available); the adapter follows FastStream's API.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["KafkaTransport"]


class KafkaTransport(Transport):
    kind: ClassVar[BrokerKind] = "kafka"

    def _make_broker(self) -> KafkaBroker:
        servers = self.url.split("://", 1)[-1].rstrip("/")
        return KafkaBroker(
            servers.split(","),
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        sub = self.broker.subscriber(
            subject,
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            **doc,
        )
        sub(handler)
        return sub

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        sub = self.broker.subscriber(RPC_PREFIX + subject, group_id=group, decoder=raw_body, **doc)
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        return self.broker.publisher(RPC_PREFIX + subject if kind == "requests" else subject, **doc)

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        await self.broker.publish(body, subject, headers=headers)

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        return await self.broker.request(body, subject, headers=headers, timeout=timeout)
