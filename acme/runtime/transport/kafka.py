"""Kafka: one topic per subject; one consumer group per service and topic, offsets committed on ack.

A service's consumers of different topics are in groups of their own (`<service>.<topic>`):
replicas of a service share each topic's partitions, and no subscription of a process makes
the others rebalance when it joins. Requests use a topic `_rpc.<subject>`, consumed by group
`<service>._rpc.<subject>`. FastStream's `request()` works only with its test client on Kafka,
so replies travel on a reply topic of this process (`_rpc.reply.<id>`, consumed from its first
request on): a request carries `reply_to` and a correlation id, the answering subscriber
publishes its return value there, and the waiting request is matched by correlation id.

The topics a process consumes are created before its consumers start (as NATS streams and
Redis groups are), and the consumers join their groups side by side: a join waits on the
broker (for other members to show up), so one after the other a host with many subscriptions
would take that wait as many times. Tried on Tansu, a Kafka-compatible broker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, ClassVar

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker

from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["KafkaTransport", "consumer_group"]

TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


def consumer_group(group: str, topic: str) -> str:
    """The Kafka consumer group of service `group` on `topic`."""
    return f"{group}.{topic}"


class KafkaTransport(Transport):
    kind: ClassVar[BrokerKind] = "kafka"
    _replies: dict[str, asyncio.Future[Any]]
    _reply_topic: str | None
    _reply_sub: Any

    def _make_broker(self) -> KafkaBroker:
        self._topics: dict[str, None] = {}  # consumed topics, created at start if missing
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
        self._topics[subject] = None
        sub = self.broker.subscriber(
            subject,
            group_id=consumer_group(group, subject),
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            **doc,
        )
        sub(handler)
        return sub

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        self._topics[RPC_PREFIX + subject] = None
        topic = RPC_PREFIX + subject
        sub = self.broker.subscriber(
            topic, group_id=consumer_group(group, topic), decoder=raw_body, **doc
        )
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        return self.broker.publisher(RPC_PREFIX + subject if kind == "requests" else subject, **doc)

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        await self.broker.publish(body, subject, headers=headers)

    async def _prepare(self) -> None:
        if self._topics:
            await self._create_topics(list(self._topics))

    async def start(self) -> None:
        """As FastStream's start, with the consumers joining their groups side by side."""
        await self.broker.connect()
        await self._prepare()
        await asyncio.gather(*(sub.start() for sub in self.broker.subscribers))
        for pub in self.broker.publishers:
            await pub.start()
        self.broker.running = True
        self._started = True

    async def _create_topics(self, topics: list[str]) -> None:
        """Create the topics the broker does not have yet (one partition, one replica each,
        what a broker creating topics on first use makes); one created meanwhile by another
        process is fine."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

        admin = AIOKafkaAdminClient(bootstrap_servers=self._servers())
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if not missing:
                return
            response = await admin.create_topics(
                [NewTopic(t, num_partitions=1, replication_factor=1) for t in missing]
            )
            for topic, code, *detail in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise ConfigurationError(
                        f"Kafka broker {self.url} refused to create topic {topic!r}: "
                        f"error {code} {detail[0] if detail and detail[0] else ''}".rstrip()
                    )
        finally:
            await admin.close()

    async def _purge(self, subject: str, group: str) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

        # Commit the group's offsets at the end of the topic: it goes on from there, where a
        # deleted group would start over from the earliest message.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers(),
            group_id=consumer_group(group, subject),
            enable_auto_commit=False,
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
