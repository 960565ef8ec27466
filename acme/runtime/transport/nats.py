"""NATS with JetStream: one stream per subject root, one durable pull consumer per service.

Stream `<root>` holds `<root>` and `<root>.>`, so producers and consumers of any subject
below a root meet in the same stream whoever starts first. Consumers are durable pull
consumers named after service and subject; every replica of a service binds to the same
durable, which is NATS's way of sharing work inside a group. Requests use core NATS on
`_rpc.<subject>` with a queue group, because a stream would swallow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError

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

__all__ = ["NatsTransport", "durable_name", "stream_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Republishing the same outbox row (crash between publish and mark) within this window is
# dropped by JetStream itself, thanks to the Nats-Msg-Id header.
DUPLICATE_WINDOW_SECONDS = 120.0
# A pull request lives this long on the server; an idle consumer renews it this often.
PULL_EXPIRES_SECONDS = 5.0
_STATUS = "Status"
_PENDING_MESSAGES = "Nats-Pending-Messages"


def stream_name(subject: str) -> str:
    """The JetStream stream holding `subject`: its first token, made a legal stream name."""
    return _UNSAFE.sub("_", subject.split(".", 1)[0]) or "_"


def durable_name(group: str, subject: str) -> str:
    return _UNSAFE.sub("_", f"{group}__{subject}")


class NatsTransport(Transport):
    kind: ClassVar[BrokerKind] = "nats"

    def _make_broker(self) -> NatsBroker:
        self._streams: set[str] = set()
        self._wanted_streams: set[str] = set()
        self._workers: list[_Workers] = []
        return NatsBroker(
            self.url,
            logger=self.broker_logger,
            log_level=logging.DEBUG,  # per-message "Received/Processed" lines are noise at INFO
            graceful_timeout=self.settings.shutdown_timeout,
            max_reconnect_attempts=-1,  # keep reconnecting across a broker restart
            reconnect_time_wait=1,
            # Handlers take the raw body and nothing else (see Transport.subscribe): FastDepends
            # would only re-validate `Any` on every message. The call model FastStream documents
            # in AsyncAPI is still built from the handlers' annotations.
            apply_types=False,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        name = stream_name(subject)
        self._wanted_streams.add(name)
        concurrency = self.settings.consumer_concurrency
        sub = self.broker.subscriber(
            subject,
            stream=JStream(name, declare=False),
            durable=durable_name(group, subject),
            # FastStream's fetch loop is replaced by `_pull_loop` (see `subscribe`); on its
            # test broker, which never fetches, messages still take FastStream's path.
            pull_sub=PullSub(batch_size=1, timeout=PULL_EXPIRES_SECONDS),
            config=ConsumerConfig(
                ack_wait=self.settings.ack_wait_seconds,
                max_ack_pending=max(concurrency * 4, 64),
            ),
            max_workers=concurrency,
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            **doc,
        )
        sub(handler)
        return sub

    def subscribe(self, subject: str, group: str, callback: MessageCallback) -> None:
        super().subscribe(subject, group, callback)
        sub = self._subs[-1][0]
        workers = _Workers(subject, callback, self.settings.consumer_concurrency, self.logger)
        self._workers.append(workers)
        # FastStream looks the task up on the instance when the subscriber starts: our pull
        # loop hands each message to our workers, with no FastStream message, context,
        # middlewares or worker queue in between (they only re-wrapped the bytes and headers).
        sub._consume_pull = lambda cb: _pull_loop(sub, workers.size, workers.run, self.logger)

    async def stop_consuming(self) -> None:
        await super().stop_consuming()  # the pull loops stop; nothing new is taken
        timeout = self.settings.shutdown_timeout
        await asyncio.gather(*(workers.drain(timeout) for workers in self._workers))

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        sub = self.broker.subscriber(
            RPC_PREFIX + subject,
            queue=group,
            decoder=raw_body,
            max_workers=self.settings.consumer_concurrency,
            **doc,
        )
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        return self.broker.publisher(RPC_PREFIX + subject if kind == "requests" else subject, **doc)

    def _delivery_count(self, message: Any) -> int | None:
        try:
            return int(message.raw_message.metadata.num_delivered)
        except Exception:  # core NATS messages carry no JetStream metadata
            return None

    async def _purge(self, subject: str, group: str) -> None:
        js = self.broker.config.connection_state.stream
        name = stream_name(subject)
        # a durable left by an earlier run also keeps pull requests of a dead process, which
        # would swallow the next deliveries until the ack wait passes
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(name, durable_name(group, subject))
        with contextlib.suppress(NotFoundError):
            await js.purge_stream(name, subject=subject)

    async def _prepare(self) -> None:
        for name in sorted(self._wanted_streams):
            await self._ensure_stream(name)

    async def _ensure_stream(self, name: str) -> None:
        if name in self._streams:
            return
        js = self.broker.config.connection_state.stream
        wanted = [name, f"{name}.>"]
        config = StreamConfig(
            name=name,
            subjects=wanted,
            storage=StorageType.FILE,
            max_age=self.settings.stream_max_age_seconds,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with other limits (older settings): keep it if it captures our subjects.
            info = await js.stream_info(name)
            subjects = list(info.config.subjects or [])
            missing = [s for s in wanted if s not in subjects]
            if missing:
                info.config.subjects = subjects + missing
                await js.update_stream(info.config)
        self._streams.add(name)

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        name = stream_name(subject)
        await self._ensure_stream(name)
        if dedupe_id:
            headers["Nats-Msg-Id"] = dedupe_id
        js = self.broker.config.connection_state.stream
        if not isinstance(js, JetStreamContext):
            # FastStream's test broker (acme.runtime.testing.in_memory) routes its own path
            await self._publish_via_faststream(subject, body, headers, name)
            return
        # Straight through nats-py's JetStream context: FastStream's publish path (command
        # object, publisher middlewares, codec, a correlation_id header of its own) adds
        # nothing here; the body is bytes already and the headers are the runtime's.
        try:
            await js.publish(subject, body, timeout=5.0, stream=name, headers=headers)
        except (NoStreamResponseError, NoRespondersError, NotFoundError):
            # The stream vanished (deleted by an operator, broker reset): declare and retry once.
            self._streams.discard(name)
            await self._ensure_stream(name)
            await js.publish(subject, body, timeout=5.0, stream=name, headers=headers)

    async def _publish_via_faststream(
        self, subject: str, body: bytes, headers: dict[str, str], name: str
    ) -> None:
        await self.broker.publish(body, subject, headers=headers, stream=name, timeout=5.0)

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        try:
            return await self.broker.request(body, subject, headers=headers, timeout=timeout)
        except NoRespondersError:
            raise TimeoutError(f"no service answers requests on {subject!r}") from None


class _Workers(TaskSlots):
    """Up to `size` messages of one subscription handled at once, each in its own task.

    `run` waits for a free slot, so the pull loop stops taking messages while all are busy.
    The callback settles every message itself (ack after commit, nack to give it back)."""

    def __init__(
        self, subject: str, callback: MessageCallback, size: int, logger: logging.Logger
    ) -> None:
        super().__init__(size)
        self.subject = subject
        self.callback = callback
        self.logger = logger

    async def run(self, msg: Any) -> None:
        await self.acquire()
        self.start(self._handle(msg))

    async def _handle(self, msg: Any) -> None:
        try:
            count: int | None = int(msg.metadata.num_delivered)
        except Exception:  # not a JetStream delivery
            count = None
        delivery = Delivery(
            subject=self.subject,
            body=msg.data,
            headers=str_headers(msg.headers),
            delivery_count=count,
            _ack=msg.ack,
            _nack=msg.nak,
        )
        await deliver_or_nack(self.callback, delivery, self.logger)


async def _pull_loop(
    sub: Any, batch: int, deliver: Callable[[Any], Awaitable[Any]], logger: logging.Logger
) -> None:
    """Consume a durable pull consumer with pull requests kept open on the server.

    Replaces FastStream's fetch loop, which asks for one message per request (nats-py's
    multi-message fetch holds the first message until the whole batch arrives or the request
    expires, which an idle stream turns into seconds of latency). Here a request for `batch`
    messages stays open for PULL_EXPIRES_SECONDS and every message is handed to `deliver`
    (`_Workers.run`, which waits while all workers are busy) the moment it arrives; a new
    request tops the open ones up once half of what was asked for has come.
    `outstanding` counts messages asked for and not yet delivered: the server's 408 at expiry
    says how many of a request were left over; when nothing at all arrives for longer than a
    request lives (a reconnect lost the requests), they are taken as gone.
    """
    pull = sub.subscription  # nats-py JetStreamContext.PullSubscription
    inbox = pull._sub
    nc = pull._nc
    expires_ns = int(PULL_EXPIRES_SECONDS * 1_000_000_000)
    outstanding = 0
    quiet_until = 0.0
    while sub.running:
        try:
            if outstanding <= batch // 2:
                wanted = batch - outstanding
                request = {"batch": wanted, "expires": expires_ns}
                await nc.publish(pull._nms, json.dumps(request).encode(), pull._deliver)
                outstanding += wanted
                quiet_until = time.monotonic() + PULL_EXPIRES_SECONDS + 1.0
            try:
                msg = await inbox.next_msg(timeout=max(0.05, quiet_until - time.monotonic()))
            except TimeoutError:
                outstanding = 0  # nothing, not even an expiry notice: the requests are gone
                continue
        except ConnectionClosedError:
            return
        except Exception as exc:  # disconnected, draining: FastStream's loop suppressed these
            logger.debug("pull on %s failed: %s", pull._nms, exc)
            outstanding = 0
            await asyncio.sleep(1.0)
            continue
        headers = msg.headers
        status = headers.get(_STATUS) if headers else None
        if status is None:
            outstanding = max(0, outstanding - 1)
            await deliver(msg)
            continue
        quiet_until = max(quiet_until, time.monotonic() + 1.0)
        pending = headers.get(_PENDING_MESSAGES) if headers else None
        if status in ("408", "409") and pending is not None and pending.isdigit():
            outstanding = max(0, outstanding - int(pending))
        elif status != "100":  # idle heartbeats change nothing
            # 404/409 without counts (consumer deleted, leader change): start over shortly
            logger.debug("pull on %s: status %s %s", pull._nms, status, msg.data[:80])
            outstanding = 0
            if status != "408":
                await asyncio.sleep(0.5)
