"""RabbitMQ: one durable topic exchange; a durable queue per service and subject bound to it.

Two services consuming one subject get one queue each (both see every message); replicas of
one service share their queue (work sharing). Requests go to a queue `_rpc.<subject>` on the
default exchange and are answered through RabbitMQ's direct reply-to.

Requests have a channel of their own (`_Requests`): one consumer of `amq.rabbitmq.reply-to`
for the life of the transport, answers matched to callers by correlation id. A caller that
gives up (its `asyncio.timeout` fires, its task is cancelled) only forgets its correlation id:
no channel call runs in the caller's task, so none can be cut off half way. (FastStream's own
request consumed and cancelled reply-to once per request on the channel everything is published
on, one request at a time; a request cancelled during Basic.Consume or Basic.Cancel made
aiormq close that channel, and every publish of the process failed from then on.)

A topic exchange drops what no queue is bound to yet, so a service deployed after its producers
would never see what they published before. A transport therefore declares, before anything
is published on a subject, the queue and binding of every service the catalog says receives
that subject: at start for the subjects its documented services send on, otherwise on the
first publish of a subject. The declarations are the consumer's own (same name, arguments and
binding), idempotent, so the consumer attaches to the queue that has been filling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from faststream import AckPolicy
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from acme.runtime.errors import RegistryError
from acme.runtime.registry import catalog
from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind, publications
from acme.runtime.wire import CONTENT_TYPE
from generator.contracts import ServiceSpec

__all__ = ["EXCHANGE", "RabbitTransport", "catalog_receivers", "events_queue"]

EXCHANGE = RabbitExchange("acme", type=ExchangeType.TOPIC, durable=True)
REPLY_TO = "amq.rabbitmq.reply-to"  # RabbitMQ's direct reply-to pseudo-queue


def events_queue(subject: str, group: str) -> RabbitQueue:
    """The durable queue of service `group` on `subject`, as its consumer declares it."""
    return RabbitQueue(f"{group}.{subject}", durable=True, routing_key=subject)


@functools.cache
def catalog_receivers(catalog_module: str) -> dict[str, tuple[str, ...]]:
    """Broker subject -> ids of the services that consume its events, per the catalog
    registry `catalog_module` (request subjects left out: a request without a server fails
    at once instead of waiting in a queue).

    Raises:
        RegistryError: the registry or one of its service modules cannot be imported.
    """
    registry = catalog(catalog_module)
    modules = getattr(registry, "SERVICE_MODULES", None) or {}
    receivers: dict[str, dict[str, None]] = {}
    for service_id, module_name in sorted(modules.items()):
        try:
            spec = importlib.import_module(module_name).SERVICE
        except (ImportError, AttributeError) as exc:
            raise RegistryError(
                f"{catalog_module}: service {service_id}: no SERVICE in {module_name} ({exc})"
            ) from exc
        if not isinstance(spec, ServiceSpec):
            raise RegistryError(f"{module_name}.SERVICE is not a generator.contracts.ServiceSpec")
        for incoming in spec.receives:
            if incoming.channel.is_broker and incoming.message.reply_model is None:
                receivers.setdefault(incoming.channel.address, {})[spec.id] = None
    return {subject: tuple(ids) for subject, ids in receivers.items()}


class RabbitTransport(Transport):
    kind: ClassVar[BrokerKind] = "rabbit"

    def _make_broker(self) -> RabbitBroker:
        self._declared: set[str] = set()  # subjects whose receivers' queues are declared
        self._declaring: dict[str, asyncio.Task[None]] = {}  # declarations under way
        self._no_catalog_logged = False
        self._requests = _Requests(self)
        return RabbitBroker(
            self.url,
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        queue = events_queue(subject, group)
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
        declared = await self.broker.declare_queue(events_queue(subject, group))
        await declared.purge()

    async def _prepare(self) -> None:
        """Queues of the receivers of every subject the documented services send on."""
        subjects = {
            endpoint.subject
            for spec in self._specs.values()
            for endpoint in publications(spec)
            if endpoint.kind == "events"
        }
        await asyncio.gather(*(self._ensure_receivers(s) for s in sorted(subjects)))

    def _receivers(self, subject: str) -> tuple[str, ...]:
        try:
            return catalog_receivers(self.settings.catalog_module).get(subject, ())
        except RegistryError as exc:
            # publishing works without the registry; only the early queues are missing
            if not self._no_catalog_logged:
                self._no_catalog_logged = True
                self.logger.warning(
                    "no queues declared ahead of consumers: %s (messages published before a "
                    "consumer first starts are dropped by RabbitMQ)",
                    exc,
                )
            return ()

    async def _ensure_receivers(self, subject: str) -> None:
        """Declare the queues of `subject`'s receivers once per transport; concurrent first
        publishes share one declaration, and a failed one is tried again next time."""
        if subject in self._declared:
            return
        task = self._declaring.get(subject)
        if task is None:
            task = asyncio.ensure_future(self._bind_queues(subject, self._receivers(subject)))
            self._declaring[subject] = task
            task.add_done_callback(lambda done: self._declared_or_not(subject, done))
        await task

    def _declared_or_not(self, subject: str, task: asyncio.Task[None]) -> None:
        self._declaring.pop(subject, None)
        if not task.cancelled() and task.exception() is None:
            self._declared.add(subject)

    async def _bind_queues(self, subject: str, groups: Iterable[str]) -> None:
        groups = tuple(groups)
        if not groups:
            return
        exchange = await self.broker.declare_exchange(EXCHANGE)
        for group in groups:
            queue = events_queue(subject, group)
            declared = await self.broker.declare_queue(queue)
            await declared.bind(
                exchange,
                routing_key=queue.routing(),
                arguments=queue.bind_arguments,
                timeout=queue.timeout,
                robust=queue.robust,
            )

    def _delivery_count(self, message: Any) -> int | None:
        headers = getattr(message, "headers", {}) or {}
        if "x-delivery-count" in headers:  # quorum queues count deliveries
            return int(headers["x-delivery-count"]) + 1
        return 2 if getattr(message.raw_message, "redelivered", False) else 1

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        if subject not in self._declared:
            await self._ensure_receivers(subject)
        await self.broker.publish(
            body,
            exchange=EXCHANGE,
            routing_key=subject,
            headers=headers,
            content_type=headers.get(CONTENT_TYPE),
            message_id=dedupe_id,
            persist=True,
            mandatory=False,  # a subject no catalog service receives goes nowhere, by design
        )

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        return await self._requests.request(subject, body, headers, timeout)

    async def close(self) -> None:
        try:
            await self._requests.close()
        finally:
            await super().close()


class _Requests:
    """Request/reply over a dedicated channel (see the module docstring)."""

    def __init__(self, transport: RabbitTransport) -> None:
        self.transport = transport
        self.waiting: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}
        self.channel: AbstractChannel | None = None
        self.opening: asyncio.Task[AbstractChannel] | None = None

    async def request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> AbstractIncomingMessage:
        """The reply to a request; raises TimeoutError when none comes within `timeout`."""
        async with asyncio.timeout(timeout):
            channel = await self._channel()
            correlation_id = uuid.uuid4().hex
            answer: asyncio.Future[AbstractIncomingMessage] = (
                asyncio.get_running_loop().create_future()
            )
            self.waiting[correlation_id] = answer
            try:
                message = aio_pika.Message(
                    body,
                    headers=dict(headers),
                    content_type=headers.get(CONTENT_TYPE),
                    correlation_id=correlation_id,
                    reply_to=REPLY_TO,
                )
                # shielded: a cancelled caller must not cut a frame off half way
                await asyncio.shield(channel.default_exchange.publish(message, subject))
                return await answer
            finally:
                self.waiting.pop(correlation_id, None)

    async def _channel(self) -> AbstractChannel:
        if self.channel is not None and not self.channel.is_closed:
            return self.channel
        if self.opening is None or self.opening.done():
            # a task of its own: callers giving up while it opens do not interrupt it
            self.opening = asyncio.ensure_future(self._open())
        self.channel = await asyncio.shield(self.opening)
        return self.channel

    async def _open(self) -> AbstractChannel:
        old, self.channel = self.channel, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        connection = await self.transport.broker.connect()
        channel: AbstractChannel = await connection.channel(publisher_confirms=False)
        queue = await channel.get_queue(REPLY_TO, ensure=False)
        await queue.consume(self._on_reply, no_ack=True)
        return channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        answer = self.waiting.pop(message.correlation_id or "", None)
        if answer is not None and not answer.done():
            answer.set_result(message)
        # else: the caller gave up (timeout, cancelled) before the answer came

    async def close(self) -> None:
        opening, self.opening = self.opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
        channel, self.channel = self.channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()
