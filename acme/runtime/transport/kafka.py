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
broker for other members to show up (a stock Kafka delays a new group's first rebalance by
group.initial.rebalance.delay.ms, 3 s by default; Tansu holds the first JoinGroup of a forming
group for half the session timeout), so a process waits that once, not once per topic. The
group settings (session timeout, heartbeats, rebalance timeout, poll interval) come from
ACME_KAFKA_*.

Each subscription handles up to ACME_CONSUMER_CONCURRENCY messages at once, as on the other
brokers (a loop of the adapter's own replaces FastStream's one-at-a-time consume loop): a
message being retried does not hold up the ones behind it in its partition. The committed
offset of a partition only moves past messages that are settled, so whatever was in flight
when a consumer died is delivered again (the inbox drops what had been handled); a nack
(shutting down mid-retry) keeps the commit below the message and fetches it again.

A stopping consumer first lets its in-flight messages finish (up to the shutdown timeout), then
leaves its groups, so that the next process to start (a restart, or the
next test) joins at once instead of waiting for the old member's session to expire: aiokafka
sends LeaveGroup only for generations above 0, and Tansu numbers a group's first generation 0
(Kafka starts at 1), so the adapter sends it itself for those. Tried on Tansu, a
Kafka-compatible broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.client import AIOKafkaClient  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    CommitFailedError,
    ConsumerStoppedError,
    KafkaError,
    for_code,
)
from aiokafka.protocol.admin import DeleteGroupsRequest  # type: ignore[import-untyped]
from aiokafka.protocol.group import LeaveGroupRequest  # type: ignore[import-untyped]
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker

from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import (
    RPC_PREFIX,
    Delivery,
    MessageCallback,
    TaskSlots,
    Transport,
    deliver_or_nack,
    raw_body,
    str_headers,
)
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["KafkaTransport", "consumer_group"]

# Kafka protocol error codes
TOPIC_ALREADY_EXISTS = 36
GROUP_NOT_EMPTY = 68
GROUP_ID_NOT_FOUND = 69
GROUP_COORDINATOR = 0  # FindCoordinator key type of consumer groups
# The consume loop waits this long for records when there are none (then checks for a stop).
FETCH_WAIT_MS = 1_000


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
        self._workers: list[_Workers] = []
        return KafkaBroker(
            self._servers(),
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def group_options(self) -> dict[str, Any]:
        """What every group consumer of this transport is given (ACME_KAFKA_*)."""
        settings = self.settings
        return {
            "session_timeout_ms": settings.kafka_session_timeout_ms,
            "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
            "rebalance_timeout_ms": settings.kafka_rebalance_timeout_ms,
            "max_poll_interval_ms": settings.kafka_max_poll_interval_ms,
        }

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        self._topics[subject] = None
        sub = self.broker.subscriber(
            subject,
            group_id=consumer_group(group, subject),
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            **self.group_options(),
            **doc,
        )
        sub(handler)
        return sub

    def subscribe(self, subject: str, group: str, callback: MessageCallback) -> None:
        super().subscribe(subject, group, callback)
        sub = self._subs[-1][0]
        workers = _Workers(subject, callback, self.settings.consumer_concurrency, self.logger)
        self._workers.append(workers)
        # FastStream starts the task it finds under this name on the instance: our loop hands
        # records to our workers, several at a time, where FastStream's awaited each handler
        # (with its message, context and middlewares) before fetching the next record.
        sub._run_consume_loop = lambda consumer: _consume_loop(sub, consumer, workers, self.logger)

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        self._topics[RPC_PREFIX + subject] = None
        topic = RPC_PREFIX + subject
        sub = self.broker.subscriber(
            topic,
            group_id=consumer_group(group, topic),
            decoder=raw_body,
            **self.group_options(),
            **doc,
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

    async def stop_consuming(self) -> None:
        """Take no new records, let the messages being handled finish and commit (up to the
        shutdown timeout), stop every subscriber (side by side), then take the members aiokafka
        left behind out of their groups."""
        for workers in self._workers:
            workers.close()
        timeout = self.settings.shutdown_timeout
        await asyncio.gather(*(workers.drain(timeout) for workers in self._workers))
        subs = [sub for sub, _ in self._subs]
        staying = [m for m in map(_unannounced_member, subs) if m is not None]
        results = await asyncio.gather(*(sub.stop() for sub in subs), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                self.logger.error("stopping subscriber failed", exc_info=result)
        await self._leave_groups(staying)

    async def _leave_groups(self, members: Sequence[tuple[str, str]]) -> None:
        """Send LeaveGroup for each (group, member id). Best effort: a member that cannot
        leave (broker unreachable) is dropped by the broker after the session timeout."""
        if not members:
            return
        try:
            async with asyncio.timeout(min(5.0, self.settings.shutdown_timeout)):
                async with self._client() as client:
                    await asyncio.gather(
                        *(
                            _to_coordinator(client, group, LeaveGroupRequest(group, member))
                            for group, member in members
                        )
                    )
        except Exception as exc:
            self.logger.warning(
                "%d Kafka consumer(s) could not leave their groups (%s); the broker drops them "
                "after the session timeout",
                len(members),
                exc,
            )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        """A bare aiokafka client for group requests outside a consumer."""
        client = AIOKafkaClient(bootstrap_servers=self._servers())
        try:
            await client.bootstrap()
            yield client
        finally:
            await client.close()

    async def _delete_group(self, group_id: str) -> None:
        """Delete a consumer group (one that does not exist is fine). Tansu deletes a group
        whose members are dead but not expired yet; a stock Kafka refuses any group with
        members (GROUP_NOT_EMPTY) until their sessions are over."""
        async with self._client() as client:
            response = await _to_coordinator(client, group_id, DeleteGroupsRequest([group_id]))
        for _, code in response.results:
            if code == GROUP_NOT_EMPTY:
                raise ConfigurationError(
                    f"Kafka consumer group {group_id!r} still has members: stop its consumers "
                    "before purging (or wait for the session timeout after a crash)"
                )
            if code not in (0, GROUP_ID_NOT_FOUND):
                raise for_code(code)(f"deleting consumer group {group_id!r}")

    async def _purge(self, subject: str, group: str) -> None:
        # Commit the group's offsets at the end of the topic: it goes on from there, where a
        # group without offsets would start over from the earliest message. A group that still
        # lists members (after a crash) refuses a commit from outside: it is deleted first.
        group_id = consumer_group(group, subject)
        try:
            await self._commit_at_end(subject, group_id)
        except CommitFailedError:
            await self._delete_group(group_id)
            await self._commit_at_end(subject, group_id)

    async def _commit_at_end(self, subject: str, group_id: str) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers(), group_id=group_id, enable_auto_commit=False
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
        await self.stop_consuming()  # leaves the groups (the broker's stop would not)
        if self._reply_sub is not None:
            try:
                await self._reply_sub.stop()
            finally:
                self._reply_sub = None
                self._reply_topic = None
        await super().close()


def _unannounced_member(sub: Any) -> tuple[str, str] | None:
    """(group, member id) of a running subscriber whose consumer will not leave its group
    when it stops: aiokafka sends LeaveGroup only for a generation above 0, and Tansu's first
    generation of a group is 0. None for anything else (Kafka's generations start at 1)."""
    coordinator = getattr(getattr(sub, "consumer", None), "_coordinator", None)
    group = getattr(coordinator, "group_id", None)
    member = getattr(coordinator, "member_id", "")
    if group and member and getattr(coordinator, "generation", None) == 0:
        return str(group), str(member)
    return None


async def _to_coordinator(client: Any, group: str, request: Any) -> Any:
    """Send a group request to the group's coordinator."""
    node = await client.coordinator_lookup(GROUP_COORDINATOR, group)
    return await client.send(node, request)


class _Ledger:
    """The offsets of one partition handed to workers, and the offset that may be committed:
    the lowest one not settled yet (or one past the highest handed out)."""

    def __init__(self) -> None:
        self.pending: set[int] = set()  # being handled
        self.held: set[int] = set()  # given back (nack): to be fetched and handled again
        self.next = 0  # one past the highest offset handed out
        self.committed = -1

    def take(self, offset: int) -> bool:
        """Hand `offset` out; False when it is being handled already (fetched again after
        a seek or a rebalance)."""
        if offset in self.pending:
            return False
        self.held.discard(offset)
        self.pending.add(offset)
        self.next = max(self.next, offset + 1)
        return True

    def settle(self, offset: int) -> None:
        self.pending.discard(offset)

    def hold(self, offset: int) -> None:
        self.pending.discard(offset)
        self.held.add(offset)

    def committable(self) -> int:
        unsettled = self.pending | self.held
        return min(unsettled) if unsettled else self.next


class _Workers(TaskSlots):
    """Up to `size` records of one subscription handled at once, each in a task of its own.

    `run` waits for a free slot, so the consume loop stops fetching while all are busy. An ack
    commits the partition's offset as far as every earlier record is settled (and returns once
    the broker has it); a nack keeps the commit below the record and seeks back to it, so it is
    fetched again (with the records after it: those being handled are skipped, the others run
    again and the inbox drops them). A callback that raises anyway has its record nacked."""

    def __init__(
        self, subject: str, callback: MessageCallback, size: int, logger: logging.Logger
    ) -> None:
        super().__init__(size)
        self.subject = subject
        self.callback = callback
        self.logger = logger
        self.closed = False
        self._ledgers: dict[Any, _Ledger] = {}
        self._commit_lock = asyncio.Lock()

    def close(self) -> None:
        """Hand out nothing more (records fetched meanwhile stay uncommitted)."""
        self.closed = True

    async def run(self, consumer: Any, record: Any) -> None:
        await self.acquire()
        tp = TopicPartition(record.topic, record.partition)
        ledger = self._ledgers.setdefault(tp, _Ledger())
        if self.closed or not ledger.take(record.offset):
            self.release()
            return
        self.start(self._handle(consumer, tp, ledger, record))

    async def _handle(self, consumer: Any, tp: Any, ledger: _Ledger, record: Any) -> None:
        offset = record.offset

        async def ack() -> None:
            ledger.settle(offset)
            await self._commit(consumer, tp, ledger)

        async def nack() -> None:
            ledger.hold(offset)
            if not self.closed:
                with contextlib.suppress(Exception):  # no longer assigned: its new owner has it
                    consumer.seek(tp, offset)

        delivery = Delivery(
            subject=self.subject,
            body=record.value or b"",
            headers=str_headers(dict(record.headers or ())),
            _ack=ack,
            _nack=nack,
        )
        await deliver_or_nack(self.callback, delivery, self.logger)

    async def _commit(self, consumer: Any, tp: Any, ledger: _Ledger) -> None:
        async with self._commit_lock:  # commits of a partition in order, never backwards
            target = ledger.committable()
            if target <= ledger.committed:
                return
            try:
                await consumer.commit({tp: target})
            except KafkaError as exc:
                # Reassigned in a rebalance, or the broker is gone: the partition's next owner
                # starts at the last commit and the inbox drops what was handled since.
                self.logger.warning("commit of %s at %d failed: %s", tp, target, exc)
                return
            ledger.committed = target


async def _consume_loop(sub: Any, consumer: Any, workers: _Workers, logger: logging.Logger) -> None:
    """Fetch records for the subscriber's consumer and hand them to `workers` (waiting while
    all are busy), until the subscriber or the workers stop."""
    while sub.running and not workers.closed:
        try:
            batches = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=workers.size)
        except ConsumerStoppedError:
            return
        except KafkaError as exc:
            logger.warning("fetching %s failed: %s", workers.subject, exc)
            await asyncio.sleep(1.0)
            continue
        for records in batches.values():
            for record in records:
                await workers.run(consumer, record)
