"""Kafka: one topic per subject, consumer group id = service id, offsets committed on ack.

Requests use a topic `_rpc.<subject>` in the service's group. FastStream's `request()` works
only with its test client on Kafka, so replies travel on a reply topic of this process
(`_rpc.reply.<id>`, consumed from its first request on): a request carries `reply_to` and a
correlation id, the answering subscriber publishes its return value there, and the waiting
request is matched by correlation id. Tried on Tansu, a Kafka-compatible broker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, ClassVar

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker

from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["KafkaTransport"]


class KafkaTransport(Transport):
    kind: ClassVar[BrokerKind] = "kafka"
    _replies: dict[str, asyncio.Future[Any]]
    _reply_topic: str | None
    _reply_sub: Any

    def _make_broker(self) -> KafkaBroker:
        self._replies = {}
        self._reply_topic = None
        self._reply_sub = None
        self._reply_lock = asyncio.Lock()
        return KafkaBroker(
            self._servers(),
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

    async def _purge(self, subject: str, group: str) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

        # Commit the group's offsets at the end of the topic: it goes on from there, where a
        # deleted group would start over from the earliest message.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers(), group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            await consumer.topics()  # fetch metadata
            partitions = consumer.partitions_for_topic(subject)
            if not partitions:
                return  # no such topic yet: nothing waits
            assigned = [TopicPartition(subject, p) for p in partitions]
            consumer.assign(assigned)
            await consumer.commit(dict(await consumer.end_offsets(assigned)))
        finally:
            await consumer.stop()

    def _servers(self) -> list[str]:
        return self.url.split("://", 1)[-1].rstrip("/").split(",")

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        topic = await self._reply_consumer()
        correlation_id = uuid.uuid4().hex
        waiting: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = waiting
        try:
            await self.broker.publish(
                body, subject, headers=headers, reply_to=topic, correlation_id=correlation_id
            )
            async with asyncio.timeout(timeout):
                return await waiting
        finally:
            self._replies.pop(correlation_id, None)

    async def _reply_consumer(self) -> str:
        """This process's reply topic, consumed from the first request on."""
        async with self._reply_lock:
            if self._reply_topic is None:
                topic = f"{RPC_PREFIX}reply.{uuid.uuid4().hex}"
                # the topic exists before its consumer asks for partitions
                await self.broker.publish(b"", topic, headers={"acme-reply-probe": "1"})

                async def on_reply(body: Any, message: Annotated[Any, Context("message")]) -> None:
                    waiting = self._replies.get(message.correlation_id or "")
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)

                sub = self.broker.subscriber(
                    topic,
                    auto_offset_reset="earliest",
                    decoder=raw_body,
                    no_reply=True,
                    persistent=False,
                    include_in_schema=False,
                )
                sub(on_reply)
                await sub.start()
                self._reply_sub = sub
                self._reply_topic = topic
            return self._reply_topic

    async def close(self) -> None:
        if self._reply_sub is not None:
            try:
                await self._reply_sub.stop()
            finally:
                self._reply_sub = None
                self._reply_topic = None
        await super().close()
