"""The broker-neutral transport interface and the FastStream plumbing all adapters share.

An adapter offers exactly four things: durable group consumption with manual ack
(`subscribe`), request serving (`serve_requests`), publishing and requesting. Everything
above this layer (inbox, outbox, retries, dead letters) is written once against `Delivery`.

Each FastStream subscriber and publisher is also documented with the catalog's messages (see
`acme.runtime.transport.spec`), so FastStream's own AsyncAPI document of a running process
says what it consumes and publishes; `acme.runtime.conformance` compares it with the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from faststream import Response

from acme.runtime.errors import ConfigurationError, RequestTimeout
from acme.runtime.settings import BrokerKind, Settings
from acme.runtime.transport.spec import (
    Endpoint,
    SubscriptionKind,
    publications,
    subscription,
)
from acme.runtime.wire import CONTENT_TYPE, JSON, REPLY_ERROR
from generator.contracts import ServiceSpec

__all__ = [
    "TaskSlots",
    "deliver_or_nack",
    "Delivery",
    "MessageCallback",
    "PublisherInfo",
    "Reply",
    "RequestCallback",
    "SubscriptionInfo",
    "Transport",
    "str_headers",
]

# Request subjects live under their own prefix: on NATS a subject captured by a JetStream
# stream answers requests with the stream's publish ack instead of the service's reply.
RPC_PREFIX = "_rpc."


@dataclass
class Delivery:
    """One message handed to a consumer; settle it with exactly one of ack/nack."""

    subject: str
    body: bytes
    headers: dict[str, str]
    delivery_count: int | None = None  # 1 on first delivery, when the broker reports it
    _ack: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    _nack: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    settled: str | None = None

    async def ack(self) -> None:
        if self.settled is None and self._ack is not None:
            await self._ack()
        self.settled = self.settled or "ack"

    async def nack(self) -> None:
        """Give the message back for redelivery (shutdown, or an unexpected runtime failure)."""
        if self.settled is None and self._nack is not None:
            await self._nack()
        self.settled = self.settled or "nack"


@dataclass(frozen=True)
class Reply:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return self.headers.get(REPLY_ERROR)


@dataclass(frozen=True)
class SubscriptionInfo:
    subject: str
    group: str
    kind: str  # "events" (durable, acked) or "requests" (request/reply)
    running: bool


@dataclass(frozen=True)
class PublisherInfo:
    """A FastStream publisher registered for a subject a hosted service sends on."""

    service: str
    subject: str  # catalog address (requests travel on RPC_PREFIX + subject)
    kind: str  # "events" or "requests"
    messages: tuple[tuple[str, str], ...]  # (message id, version)
    registered: bool  # still among the broker's publishers


MessageCallback = Callable[[Delivery], Awaitable[None]]
RequestCallback = Callable[[Delivery], Awaitable[Reply]]


async def raw_body(message: Any) -> Any:
    """FastStream decoder that leaves the body as bytes: the runtime validates it itself, so
    that invalid JSON becomes a dead letter instead of a framework error."""
    return message.body


class TaskSlots:
    """Up to `size` tasks at once, for the adapters that hand each message to a task of its
    own: `acquire` waits for a free slot (so a fetch loop stops taking messages while all are
    busy), `start` runs a coroutine in the slot taken, `release` gives back one not used."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._slots = asyncio.Semaphore(self.size)
        self._running: set[asyncio.Task[None]] = set()

    async def acquire(self) -> None:
        await self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def drain(self, timeout: float) -> None:
        """Wait for the running tasks; cancel what still runs after `timeout` (its message is
        not acknowledged, so the broker delivers it again)."""
        if not self._running:
            return
        _, late = await asyncio.wait(set(self._running), timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)


async def deliver_or_nack(
    callback: Callable[[Delivery], Awaitable[None]], delivery: Delivery, logger: logging.Logger
) -> None:
    """Run the consumer callback, which settles the message itself; one that raises anyway
    has its message nacked, so the broker delivers it again rather than losing it."""
    try:
        await callback(delivery)
    except Exception:
        logger.exception("consumer callback failed on %s; message nacked", delivery.subject)
        with contextlib.suppress(Exception):  # disconnected: the broker redelivers it anyway
            await delivery.nack()


def str_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Broker headers as text (bytes values decoded as UTF-8)."""
    if not headers:
        return {}
    out: dict[str, str] = {}
    for key, value in headers.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        out[str(key)] = str(value)
    return out


class Transport(ABC):
    """A FastStream broker wrapped to the four operations the runtime needs.

    Register subscriptions before `start()`; `stop_consuming()` stops fetching and waits for
    in-flight callbacks (up to the broker's graceful timeout); `close()` disconnects.
    """

    kind: ClassVar[BrokerKind]

    def __init__(self, url: str, settings: Settings, logger: logging.Logger | None = None) -> None:
        self.url = url
        self.settings = settings
        self.logger = logger or logging.getLogger("acme.transport")
        # FastStream narrates task restarts at INFO on every stop; keep its warnings only.
        self.broker_logger = logging.getLogger(f"{self.logger.name}.faststream")
        if self.broker_logger.level == logging.NOTSET:
            self.broker_logger.setLevel(logging.WARNING)
        self._started = False
        self._subs: list[tuple[Any, SubscriptionInfo]] = []
        self._pubs: list[tuple[Any, Endpoint]] = []
        self._specs: dict[str, ServiceSpec] = {}
        self.broker: Any = self._make_broker()

    # -- adapter hooks -------------------------------------------------------------------
    @abstractmethod
    def _make_broker(self) -> Any: ...

    @abstractmethod
    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        """Register a durable, group-shared, manually acked FastStream subscriber.

        `doc` (title, description) goes to `broker.subscriber` as AsyncAPI information."""

    @abstractmethod
    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        """Register a subscriber whose handler return value is the reply."""

    @abstractmethod
    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        """Register a FastStream publisher of `subject` (on RPC_PREFIX + subject for
        requests) for the AsyncAPI document only: `doc` holds title, description, schema.
        Publishing itself goes through `_publish`/`_request`."""

    @abstractmethod
    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None: ...

    @abstractmethod
    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        """Send a request; return the FastStream reply message."""

    async def _prepare(self) -> None:  # noqa: B027 - optional hook, most brokers need none
        """Declare broker-side objects before subscribers start (NATS streams)."""

    def _delivery_count(self, message: Any) -> int | None:
        return None

    async def _purge(self, subject: str, group: str) -> None:
        raise ConfigurationError(f"purging subjects is not supported on {self.kind}")

    def _current_message(self) -> Any:
        """The FastStream message being handled.

        Read from the broker's context rather than injected with `Context("message")`:
        FastDepends resolves such a parameter with a synchronous function, which it runs on
        a worker thread, a thread round trip per message."""
        message = self.broker.context.get_local("message")
        if message is None:
            raise RuntimeError("no FastStream message in context: not inside a subscriber")
        return message

    # -- public API ----------------------------------------------------------------------
    def subscribe(self, subject: str, group: str, callback: MessageCallback) -> None:
        """Consume `subject` durably in consumer group `group` (one group per service)."""
        self._check_not_started("subscribe")
        _check_name(subject, "subject")
        _check_name(group, "group")

        current = self._current_message

        async def handler(body: Any) -> None:
            message = current()
            delivery = Delivery(
                subject=subject,
                body=body if isinstance(body, bytes) else bytes(message.body),
                headers=str_headers(message.headers),
                delivery_count=self._delivery_count(message),
                _ack=message.ack,
                _nack=message.nack,
            )
            try:
                await callback(delivery)
            except Exception:
                # The runtime's callback settles every message itself; reaching here is a bug
                # in the runtime, so the message goes back to the broker rather than being lost.
                self.logger.exception("consumer callback failed on %s; message nacked", subject)
                await delivery.nack()

        doc = self._describe(handler, callback, subject, group, "events")
        sub = self._register_events(subject, group, handler, **doc)
        self._subs.append((sub, SubscriptionInfo(subject, group, "events", False)))

    def serve_requests(self, subject: str, group: str, callback: RequestCallback) -> None:
        """Answer requests sent to `subject`; one member of `group` answers each request."""
        self._check_not_started("serve_requests")
        _check_name(subject, "subject")

        current = self._current_message

        async def handler(body: Any) -> Response:
            message = current()
            delivery = Delivery(
                subject=subject,
                body=body if isinstance(body, bytes) else bytes(message.body),
                headers=str_headers(message.headers),
            )
            try:
                reply = await callback(delivery)
            except Exception as exc:
                self.logger.exception("request callback failed on %s", subject)
                reply = Reply(b"", {REPLY_ERROR: f"{type(exc).__name__}: {exc}"})
            return Response(reply.body, headers={CONTENT_TYPE: JSON, **reply.headers})

        doc = self._describe(handler, callback, subject, group, "requests")
        sub = self._register_requests(subject, group, handler, **doc)
        self._subs.append((sub, SubscriptionInfo(subject, group, "requests", False)))

    # -- AsyncAPI documentation ------------------------------------------------------------
    def document(self, specs: Iterable[ServiceSpec]) -> None:
        """Register a documented FastStream publisher for every broker subject each service
        sends on (once per service). `subscribe` does this by itself for the whole host when
        its callback belongs to a runtime consumer; call it for hosts without consumers."""
        for spec in specs:
            if spec.id in self._specs:
                continue
            self._specs[spec.id] = spec
            for endpoint in publications(spec):
                title = f"{spec.id}:{endpoint.subject}:send"
                pub = self._register_publisher(
                    endpoint.subject,
                    endpoint.kind,
                    title=title,
                    description=endpoint.description,
                    schema=endpoint.annotation(_payload_title(endpoint, title)),
                )
                self._pubs.append((pub, endpoint))

    def _describe(
        self,
        handler: Any,
        callback: Callable[..., Any],
        subject: str,
        group: str,
        kind: SubscriptionKind,
    ) -> dict[str, Any]:
        """AsyncAPI information of a subscriber; sets the payload schema on `handler`'s body
        annotation (validation of `Any` leaves the raw body as it is)."""
        self.document(_host_specs(callback))
        title = f"{group}:{subject}:receive"
        endpoint = subscription(self._specs.values(), group, subject, kind)
        if endpoint is None:
            # not a catalog subject (e.g. dead-letter replays): documented without a schema
            return {"title": title, "description": f"{group}: runtime subject"}
        handler.__annotations__ = {
            **handler.__annotations__,
            "body": endpoint.annotation(_payload_title(endpoint, title)),
        }
        return {"title": title, "description": endpoint.description}

    def publishers(self) -> list[PublisherInfo]:
        """The documented publishers, read against the broker's live publisher list."""
        live = {id(p) for p in self.broker.publishers}
        return [
            PublisherInfo(e.service, e.subject, e.kind, e.messages, id(pub) in live)
            for pub, e in self._pubs
        ]

    async def connect(self) -> None:
        """Connect without starting consumers (publishers and the CLI need only this)."""
        await self.broker.connect()

    async def purge(self, subject: str, group: str) -> None:
        """Forget every message waiting for `group` on `subject`, and the group's position.

        For tests on a shared broker, which must start each system as if on a fresh one;
        nothing in the runtime calls it. Connects if needed; call it before `start()`."""
        _check_name(subject, "subject")
        _check_name(group, "group")
        await self.connect()
        await self._purge(subject, group)

    async def start(self) -> None:
        await self.broker.connect()
        await self._prepare()
        await self.broker.start()
        self._started = True

    async def stop_consuming(self) -> None:
        """Stop taking new messages; in-flight callbacks finish (graceful timeout)."""
        for sub, _ in self._subs:
            try:
                await sub.stop()
            except Exception:  # one broken subscriber must not block the others' shutdown
                self.logger.exception("stopping subscriber failed")

    async def close(self) -> None:
        try:
            await self.broker.stop()
        finally:
            self._started = False

    async def publish(
        self,
        subject: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        dedupe_id: str | None = None,
    ) -> None:
        """Publish durably: returns once the broker has accepted the message."""
        await self._publish(subject, body, dict(headers), dedupe_id)

    async def request(
        self, subject: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> Reply:
        try:
            message = await self._request(RPC_PREFIX + subject, body, dict(headers), timeout)
        except TimeoutError:
            raise RequestTimeout(subject, timeout) from None
        return Reply(bytes(message.body), str_headers(message.headers))

    def subscriptions(self) -> list[SubscriptionInfo]:
        """What this process consumes, read from the live FastStream subscribers."""
        live = {id(s) for s in self.broker.subscribers}
        out = []
        for sub, info in self._subs:
            running = id(sub) in live and bool(getattr(sub, "running", False))
            out.append(SubscriptionInfo(info.subject, info.group, info.kind, running))
        return out

    @property
    def started(self) -> bool:
        return self._started

    async def ping(self, timeout: float = 1.0) -> bool:
        try:
            return bool(await self.broker.ping(timeout))
        except Exception:
            return False

    def _check_not_started(self, what: str) -> None:
        if self._started:
            raise ConfigurationError(f"{what}() must be called before the transport starts")


def _payload_title(endpoint: Endpoint, title: str) -> str:
    # One model keeps its class name (what FastStream shows for a typed handler); a oneOf of
    # several is named after the endpoint.
    return endpoint.models[0].__name__ if len(endpoint.models) == 1 else f"{title}:Payload"


def _host_specs(callback: Callable[..., Any]) -> list[ServiceSpec]:
    """The specs of every service of the host a runtime consumer callback belongs to
    (`ServiceConsumer.on_delivery` -> its app -> its host); empty for any other callable."""
    owner = getattr(callback, "__self__", None)
    host = getattr(getattr(owner, "app", None), "host", None)
    bindings = getattr(host, "services", None)
    if bindings is None:
        binding = getattr(owner, "binding", None)
        bindings = (binding,) if binding is not None else ()
    return [b.spec for b in bindings if isinstance(getattr(b, "spec", None), ServiceSpec)]


def _check_name(value: str, what: str) -> None:
    if not value or any(ch.isspace() for ch in value) or any(ch in value for ch in "*>"):
        raise ConfigurationError(f"invalid {what} {value!r}: no spaces or wildcards allowed")
