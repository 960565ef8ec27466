"""`SystemApp`: what a system's `create(app)` registers its code with, and what runs it.

One SystemApp per process. It opens the host's data stores (applying their DDL), subscribes
every handled service in its own consumer group, runs one outbox relay per store, mounts
webhooks and HTTP routers on one FastAPI app, and stops in the safe order: stop consuming,
let in-flight handlers finish, flush the outbox, disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from acme.runtime import inbox
from acme.runtime.auth import JwtAuthorizer
from acme.runtime.consumer import ServiceConsumer
from acme.runtime.db import Stores, dead_letters, runtime_metadata
from acme.runtime.deadletter import REPLAY_PREFIX, DeadLetterBox
from acme.runtime.errors import (
    ConfigurationError,
    DuplicateRegistration,
    RemoteError,
    RuntimeStateError,
)
from acme.runtime.outbox import ChannelAdapter, Relay, TxOutbox
from acme.runtime.registry import HostSpec, ServiceBinding
from acme.runtime.settings import RUNTIME_STORE, Settings
from acme.runtime.transport import Transport, create_transport
from acme.runtime.tx import Tx, bind, current_or_none, unbind
from acme.runtime.wire import dump_payload, message_headers, new_id
from generator.contracts import Incoming, MessageContext, Outgoing, check_handlers

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

__all__ = ["PeriodicTask", "SystemApp", "WebhookDecoder", "WebhookMessage"]


class WebhookMessage(NamedTuple):
    """One message decoded from an inbound webhook request (a plain 4-tuple works too)."""

    incoming: Incoming
    payload: BaseModel
    message_id: str  # dedup key, e.g. the Stripe event id
    headers: dict[str, str] | None = None


WebhookDecoder = Callable[
    ["Request"],
    Awaitable[Sequence[WebhookMessage | tuple[Any, ...]]]
    | Sequence[WebhookMessage | tuple[Any, ...]],
]


class PeriodicTask(NamedTuple):
    interval: float
    function: Callable[[], Awaitable[None]]
    name: str


# Stores whose transaction is open in the current task (to refuse self-deadlocking nesting).
_held_stores: ContextVar[frozenset[str]] = ContextVar("acme_held_stores", default=frozenset())


@contextlib.asynccontextmanager
async def _transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn, conn.begin():
        yield conn


def _utc_clock() -> datetime:
    return datetime.now(UTC)


class SystemApp:
    """The runtime of one host (a system, or a domain's system-less services).

    Register in `create(app)`: `handle`, `serve`, `every`, `webhook`, `channel_adapter`.
    Use at run time: `transaction`, `store`, `settings`, `clock`, `logger`, `authorizer`.
    """

    def __init__(
        self,
        host: HostSpec,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        transport: Transport | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.id = host.id
        self.settings = settings or Settings()
        self._clock = clock or _utc_clock
        self.logger = logger or logging.getLogger(f"acme.{host.id}")
        self.stores = Stores(self.settings)
        self.transport: Transport | None = transport
        self._own_transport = transport is None
        self._handlers: dict[str, object] = {}
        self._http: dict[str, object] = {}
        self._periodic: list[PeriodicTask] = []
        self._webhooks: dict[str, WebhookDecoder] = {}
        self._adapters: dict[str, ChannelAdapter] = {}
        self.consumers: dict[str, ServiceConsumer] = {}
        self.relays: dict[str, Relay] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._relay_tasks: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Event | None = None
        self._dead_letters: DeadLetterBox | None = None
        self._http_app: FastAPI | None = None
        self._authorizer: JwtAuthorizer | None = None
        self.started = False

    # -- registration (in create(app), before start) ---------------------------------
    def handle(self, service_id: str, handlers: object) -> None:
        """Register the object implementing `service_id`'s generated `<Service>Handlers`."""
        binding = self._registering(service_id, "handle")
        if not binding.spec.receives:
            raise ConfigurationError(f"{service_id} receives no messages according to the catalog")
        if service_id in self._handlers:
            raise DuplicateRegistration(f"message handlers of {service_id} registered twice")
        self._handlers[service_id] = handlers

    def serve(self, service_id: str, handlers: object) -> None:
        """Register the object implementing `service_id`'s generated `<Service>HttpHandlers`."""
        binding = self._registering(service_id, "serve")
        if binding.build_router is None:
            raise ConfigurationError(f"{service_id} has no HTTP API in the catalog")
        if service_id in self._http:
            raise DuplicateRegistration(f"HTTP handlers of {service_id} registered twice")
        self._http[service_id] = handlers

    def every(
        self, seconds: float, function: Callable[[], Awaitable[None]], *, name: str | None = None
    ) -> None:
        """Run `await function()` every `seconds` while the process runs (errors are logged)."""
        self._not_started("every")
        if seconds <= 0:
            raise ConfigurationError(f"every(): interval must be positive, got {seconds}")
        if not callable(function):
            raise ConfigurationError("every(): function must be an async callable")
        label = name or str(getattr(function, "__qualname__", None) or repr(function))
        self._periodic.append(PeriodicTask(float(seconds), function, label))

    def webhook(self, channel_id: str, decoder: WebhookDecoder) -> None:
        """Accept POSTs on the http channel `channel_id`'s address; `decoder(request)` returns
        the messages in it (raise WebhookRejected on a bad signature -> 400)."""
        self._not_started("webhook")
        if not self._webhook_incomings(channel_id):
            raise ConfigurationError(
                f"no service of {self.id} receives messages over channel {channel_id!r}"
            )
        if channel_id in self._webhooks:
            raise DuplicateRegistration(f"webhook decoder for {channel_id} registered twice")
        self._webhooks[channel_id] = decoder

    def channel_adapter(self, channel_id: str, adapter: ChannelAdapter) -> None:
        """Deliver outbox rows sent on the https channel `channel_id` with `await adapter(row)`
        (retried with back-off until it returns; it must be idempotent by row.message_id)."""
        self._not_started("channel_adapter")
        sends = [
            o
            for b in self.host.services
            for o in b.spec.sends
            if o.channel.channel_id == channel_id
        ]
        if not sends:
            raise ConfigurationError(f"no service of {self.id} sends on channel {channel_id!r}")
        if channel_id in self._adapters:
            raise DuplicateRegistration(f"channel adapter for {channel_id} registered twice")
        self._adapters[channel_id] = adapter

    # -- run-time API ------------------------------------------------------------------
    def clock(self) -> datetime:
        """Now, in UTC (inject `clock=` in tests)."""
        now = self._clock()
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    def store(self, store_id: str) -> AsyncEngine:
        """The AsyncEngine of one of this host's data stores (for reads and ad-hoc work)."""
        return self.stores.get(store_id)

    @property
    def authorizer(self) -> JwtAuthorizer:
        if self._authorizer is None:
            self._authorizer = JwtAuthorizer.from_settings(self.settings)
        return self._authorizer

    @property
    def dead_letters(self) -> DeadLetterBox:
        if self._dead_letters is None:
            raise RuntimeStateError(f"{self.id} is not started")
        return self._dead_letters

    @property
    def http_app(self) -> FastAPI:
        """The system's FastAPI app (routers, webhooks, health, introspection)."""
        if self._http_app is None:
            from acme.runtime.http import build_http_app

            self._http_app = build_http_app(self)
        return self._http_app

    @contextlib.asynccontextmanager
    async def transaction(
        self,
        service_id: str,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        context: MessageContext | None = None,
        write_lock: bool = True,
    ) -> AsyncIterator[Tx]:
        """Open a transaction of `service_id` on its primary store (joins an open one of the
        same service). Messages its publishers stage are committed with its writes.

        On SQLite the write lock is taken at BEGIN (`write_lock=False`: at the first write),
        so concurrent writers queue instead of failing; keep transactions short."""
        outer = current_or_none()
        if outer is not None and outer.service.id == service_id:
            yield outer
            return
        binding = self.host.service(service_id)
        store = self.host.primary_store(service_id)
        relay = self.relays.get(store)
        held = _held_stores.get()
        if write_lock and store in held:
            # The store's writer queue is not reentrant: waiting here would wait for ourselves.
            raise RuntimeStateError(
                f"a transaction of {outer.service.id if outer else '?'} on {store!r} is open; "
                f"{service_id} writes to the same store, so do its work in that transaction"
            )
        # Writes queue for the store and share commits (Stores.write; on SQLite they begin
        # with BEGIN IMMEDIATE); a reply's transaction takes the write lock at its first write.
        unit = self.stores.write(store) if write_lock else _transaction(self.stores.get(store))
        held_token = _held_stores.set(held | {store} if write_lock else held)
        try:
            async with unit as conn:
                tx = Tx(
                    service=binding.spec,
                    store=store,
                    conn=conn,
                    correlation_id=correlation_id or new_id(),
                    causation_id=causation_id,
                    traceparent=traceparent,
                    context=context,
                    clock=self.clock,
                )
                tx.outbox = TxOutbox(tx, self._request, lambda: None)
                token = bind(tx)
                try:
                    yield tx
                finally:
                    unbind(token)
        finally:
            _held_stores.reset(held_token)
        if tx.pending and relay is not None:
            relay.submit(tx.pending)  # committed: publish now rather than at the next poll

    async def sleep_unless_stopping(self, seconds: float) -> bool:
        """Sleep; True (early) when the app started stopping."""
        stopping = self._stopping
        if stopping is None:
            await asyncio.sleep(seconds)
            return False
        try:
            async with asyncio.timeout(seconds):
                await stopping.wait()
            return True
        except TimeoutError:
            return False

    # -- lifecycle ---------------------------------------------------------------------
    def check(self) -> None:
        """Fail fast when registered code does not match the catalog."""
        problems: list[str] = []
        for binding in self.host.services:
            spec = binding.spec
            if spec.receives and spec.id not in self._handlers:
                problems.append(
                    f"{spec.id} receives {', '.join(sorted({i.message.id for i in spec.receives}))}"
                    f" but no handlers are registered: call app.handle({spec.id!r}, ...)"
                )
            if binding.build_router is not None and spec.id not in self._http:
                problems.append(
                    f"{spec.id} has an HTTP API but no handlers: call app.serve({spec.id!r}, ...)"
                )
            for incoming in spec.receives:
                channel = incoming.channel
                if not channel.is_broker and channel.channel_id not in self._webhooks:
                    problems.append(
                        f"{spec.id} receives {incoming.message.id} over {channel.channel_id} "
                        f"({channel.address}): register app.webhook({channel.channel_id!r}, ...)"
                    )
            for outgoing in spec.sends:
                channel = outgoing.channel
                if not channel.is_broker and channel.channel_id not in self._adapters:
                    problems.append(
                        f"{spec.id} sends {outgoing.message.id} over {channel.channel_id}: "
                        f"register app.channel_adapter({channel.channel_id!r}, ...)"
                    )
        if problems:
            raise ConfigurationError(f"{self.id} is incomplete:\n  - " + "\n  - ".join(problems))
        for binding in self.host.services:
            impl = self._handlers.get(binding.id)
            if impl is not None and binding.handlers is not None:
                check_handlers(binding.handlers, impl, service=binding.spec)
            http_impl = self._http.get(binding.id)
            if http_impl is not None and binding.http_handlers is not None:
                check_handlers(binding.http_handlers, http_impl, service=binding.spec)

    async def start(self) -> None:
        """Check, open stores (DDL), connect, subscribe, start relays and periodic tasks."""
        if self.started:
            return
        self.check()
        try:
            await self._start()
        except BaseException:
            # Leave nothing half-open behind a failed start (a retrying supervisor restarts us).
            await self._abort_start()
            raise

    async def _abort_start(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        for task in [*self._tasks, *self._relay_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._relay_tasks, return_exceptions=True)
        self._tasks.clear()
        self._relay_tasks.clear()
        self.relays.clear()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                await self.transport.close()
            if self._own_transport:
                self.transport = None
        await self.stores.dispose()

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        for store in self.host.stores():
            spec = self.host.datastores.get(store)
            ddl = spec.ddl if spec else ()
            metadata = [runtime_metadata]
            if spec is not None and not ddl and spec.metadata is not None:
                metadata.insert(0, spec.metadata)  # no catalog SQL: create the generated tables
            await self.stores.open(store, ddl, metadata=metadata)
        runtime_engine = await self.stores.open(RUNTIME_STORE, metadata=(dead_letters.metadata,))
        if self.transport is None:
            self.transport = create_transport(
                self.settings.resolved_broker_url(), self.settings, self.logger
            )
        self._dead_letters = DeadLetterBox(runtime_engine, self.transport, self.clock, self.logger)
        self._subscribe(self.transport)
        self.http_app  # noqa: B018 - build routers now: a bad router fails the start, not a request
        await self.transport.start()
        for store in {self.host.primary_store(b.id) for b in self.host.services}:
            relay = Relay(
                store,
                self.stores.get(store),
                self.transport,
                self._adapters,
                clock=self.clock,
                poll_interval=self.settings.relay_poll_interval,
                batch_size=self.settings.relay_batch_size,
                max_backoff=self.settings.relay_retry_max_delay,
                retention=self.settings.outbox_retention_seconds,
                logger=self.logger,
                writer=functools.partial(self.stores.writer_lock, store),
            )
            self.relays[store] = relay
            self._relay_tasks.append(asyncio.create_task(relay.run(), name=f"relay:{store}"))
        for task in self._periodic:
            self._tasks.append(asyncio.create_task(self._every(task), name=f"every:{task.name}"))
        self._tasks.append(asyncio.create_task(self._purge_inboxes(), name="inbox-purge"))
        self.started = True
        self.logger.info(
            "%s started: %d subscription(s), stores %s",
            self.id,
            len(self.transport.subscriptions()),
            ", ".join(self.stores.opened),
        )

    def _subscribe(self, transport: Transport) -> None:
        for binding in self.host.services:
            impl = self._handlers.get(binding.id)
            if impl is None:
                continue
            consumer = ServiceConsumer(self, binding, impl)
            self.consumers[binding.id] = consumer
            subjects: dict[str, None] = {}
            for incoming in binding.spec.receives:
                if not incoming.channel.is_broker:
                    continue  # webhooks arrive over HTTP
                if incoming.message.reply_model is not None:
                    transport.serve_requests(
                        incoming.channel.address, binding.id, consumer.on_request
                    )
                else:
                    subjects[incoming.channel.address] = None
            for subject in subjects:
                transport.subscribe(subject, binding.id, consumer.on_delivery)
            transport.subscribe(REPLAY_PREFIX + binding.id, binding.id, consumer.on_delivery)

    async def stop_intake(self) -> None:
        """Stop consuming and periodic work; in-flight handlers finish (graceful timeout)."""
        if self._stopping is not None:
            self._stopping.set()
        if self.transport is not None and self.started:
            await self.transport.stop_consuming()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def stop(self) -> None:
        """Stop intake, flush every outbox (bounded by the shutdown timeout), disconnect."""
        await self.stop_intake()
        for store, relay in self.relays.items():
            left = await relay.flush(self.settings.shutdown_timeout)
            if left:
                self.logger.warning("%d outbox row(s) of %s left for the next start", left, store)
            relay.stop()
        for task in self._relay_tasks:
            task.cancel()
        await asyncio.gather(*self._relay_tasks, return_exceptions=True)
        self._relay_tasks.clear()
        self.relays.clear()
        if self.transport is not None and self.started:
            await self.transport.close()
        if self._own_transport:
            self.transport = None
        await self.stores.dispose()
        self.started = False

    async def __aenter__(self) -> SystemApp:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- internals ---------------------------------------------------------------------
    def _registering(self, service_id: str, what: str) -> ServiceBinding:
        self._not_started(what)
        return self.host.service(service_id)

    def _not_started(self, what: str) -> None:
        if self.started:
            raise RuntimeStateError(f"{what}() must be called in create(app), before start")

    def _webhook_incomings(self, channel_id: str) -> list[tuple[ServiceBinding, Incoming]]:
        return [
            (b, i)
            for b in self.host.services
            for i in b.spec.receives
            if i.channel.channel_id == channel_id and not i.channel.is_broker
        ]

    @property
    def webhooks(self) -> dict[str, WebhookDecoder]:
        return dict(self._webhooks)

    def webhook_address(self, channel_id: str) -> str:
        pairs = self._webhook_incomings(channel_id)
        address = pairs[0][1].channel.address
        return address if address.startswith("/") else "/" + address

    def webhook_targets(self, incoming: Incoming) -> list[ServiceConsumer]:
        return [
            self.consumers[b.id]
            for b in self.host.services
            if incoming in b.spec.receives and b.id in self.consumers
        ]

    async def _request(self, tx: Tx, outgoing: Outgoing, payload: BaseModel) -> BaseModel:
        transport = self.transport
        if transport is None:
            raise RuntimeStateError(f"{self.id} is not connected to a broker")
        message = outgoing.message
        reply_model = message.reply_model
        assert reply_model is not None
        headers = message_headers(
            message_id=new_id(),
            message_type=message.id,
            message_version=message.version,
            correlation_id=tx.correlation_id,
            causation_id=tx.causation_id,
            traceparent=tx.traceparent,
        )
        reply = await transport.request(
            outgoing.channel.address,
            dump_payload(payload),
            headers,
            timeout=self.settings.request_timeout,
        )
        if reply.error:
            raise RemoteError(outgoing.channel.address, reply.error)
        try:
            return reply_model.model_validate_json(reply.body)
        except ValidationError as exc:
            raise RemoteError(
                outgoing.channel.address, f"reply is not a valid {reply_model.__name__}: {exc}"
            ) from exc

    async def _every(self, task: PeriodicTask) -> None:
        while True:
            if await self.sleep_unless_stopping(task.interval):
                return
            try:
                await task.function()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.logger.exception("periodic task %s failed", task.name)

    async def _purge_inboxes(self) -> None:
        retention = self.settings.inbox_retention_seconds
        if retention <= 0:
            return
        while not await self.sleep_unless_stopping(3600):
            for store in list(self.relays):
                try:
                    async with (
                        self.stores.writer_lock(store),
                        self.stores.get(store).begin() as conn,
                    ):
                        await inbox.purge(
                            conn, older_than=timedelta(seconds=retention), now=self.clock()
                        )
                except Exception:
                    self.logger.exception("purging the inbox of %s failed", store)
