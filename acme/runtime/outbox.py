"""Transactional outbox: messages are rows written with the state change, published later.

`TxOutbox.put` writes a `message_outbox` row on the transaction's connection, so the message
exists exactly when the state change committed. The `Relay` publishes unpublished rows in
creation order (per subject), marks them, wakes right after a commit and also polls, so rows
left behind by a crash are published by the next process that opens the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from acme.runtime.db import insert_ignore, message_outbox, utc
from acme.runtime.errors import ConfigurationError
from acme.runtime.transport import Transport
from acme.runtime.tx import Tx
from acme.runtime.wire import (
    CHANNEL_HEADER,
    MESSAGE_ID,
    PROTOCOL_HEADER,
    dump_payload,
    loads_headers,
    message_headers,
    public_headers,
)
from generator.contracts import Outgoing

__all__ = ["ChannelAdapter", "OutboxRow", "Relay", "TxOutbox", "outbox_message_id"]

# Keys passed to `put(..., key=...)` map to the same message id on every retry of a handler.
_KEY_NAMESPACE = uuid.UUID("6f0f3a52-2f9e-4d53-9d0e-5e7b7c1d9a41")


def outbox_message_id(service_id: str, message_type: str, key: str) -> str:
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{service_id}\x1f{message_type}\x1f{key}"))


@dataclass(frozen=True)
class OutboxRow:
    """One staged message as a channel adapter receives it."""

    message_id: str
    subject: str
    message_type: str
    headers: Mapping[str, str]
    payload: bytes  # JSON, field names as in the schema
    created_at: datetime
    channel_id: str | None = None

    def json(self) -> Any:
        return json.loads(self.payload)


ChannelAdapter = Callable[[OutboxRow], Awaitable[None]]
Requester = Callable[[Tx, Outgoing, BaseModel], Awaitable[BaseModel]]


class _MonotonicClock:
    """Strictly increasing timestamps, so rows of one process keep their creation order."""

    def __init__(self) -> None:
        self._last: datetime | None = None

    def next(self, now: datetime) -> datetime:
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now


_ORDER = _MonotonicClock()


class TxOutbox:
    """The `generator.contracts.Outbox` of one transaction (publishers write through it)."""

    def __init__(self, tx: Tx, requester: Requester, on_staged: Callable[[], None]) -> None:
        self._tx = tx
        self._requester = requester
        self._on_staged = on_staged

    async def put(self, outgoing: Outgoing, payload: BaseModel, *, key: str | None = None) -> str:
        tx = self._tx
        _check_sends(tx, outgoing)
        body = _validated_body(outgoing, payload)
        message = outgoing.message
        message_id = outbox_message_id(tx.service.id, message.id, key) if key else str(uuid.uuid4())
        headers = message_headers(
            message_id=message_id,
            message_type=message.id,
            message_version=message.version,
            correlation_id=tx.correlation_id,
            causation_id=tx.causation_id,
            traceparent=tx.traceparent,
        )
        channel = outgoing.channel
        if channel.channel_id:
            headers[CHANNEL_HEADER] = channel.channel_id
        headers[PROTOCOL_HEADER] = channel.protocol
        inserted = await insert_ignore(
            tx.conn,
            message_outbox,
            {
                "message_id": message_id,
                "subject": channel.address,
                "message_type": message.id,
                "headers": json.dumps(headers, sort_keys=True),
                "payload": body.decode(),
                "created_at": _ORDER.next(tx.now()),
                "published_at": None,
            },
        )
        if inserted:
            tx.staged += 1
            self._on_staged()
        return message_id

    async def request(self, outgoing: Outgoing, payload: BaseModel) -> BaseModel:
        _check_sends(self._tx, outgoing)
        if outgoing.message.reply_model is None:
            raise ConfigurationError(
                f"{outgoing.message.id} is not a request/response exchange; use put()"
            )
        return await self._requester(self._tx, outgoing, payload)


def _check_sends(tx: Tx, outgoing: Outgoing) -> None:
    if outgoing not in tx.service.sends:
        raise ConfigurationError(
            f"{tx.service.id} does not send {outgoing.message.id} {outgoing.message.version} "
            f"on {outgoing.channel.address!r} according to the catalog ({tx.service.source})"
        )


def _validated_body(outgoing: Outgoing, payload: BaseModel) -> bytes:
    model = outgoing.message.model
    if not isinstance(payload, model):
        raise TypeError(
            f"{outgoing.message.id} expects a {model.__name__} payload, "
            f"got {type(payload).__name__}"
        )
    body = dump_payload(payload)
    try:
        # Models built with model_construct() skip validation; the wire must not.
        model.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"invalid {outgoing.message.id} payload: {exc}") from exc
    return body


class Relay:
    """Publishes one store's outbox. Order is kept per subject: a failing row holds back the
    rows after it on the same subject and is retried with back-off; other subjects go on."""

    def __init__(
        self,
        store: str,
        engine: AsyncEngine,
        transport: Transport | None,
        adapters: Mapping[str, ChannelAdapter],
        *,
        clock: Callable[[], datetime],
        poll_interval: float = 1.0,
        batch_size: int = 200,
        max_backoff: float = 30.0,
        retention: float = 24 * 3600,
        logger: logging.Logger | None = None,
        writer: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.transport = transport
        self.adapters = adapters
        self.clock = clock
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.retention = retention
        self.logger = logger or logging.getLogger("acme.relay")
        # The store's in-process writer queue (see Stores.writer_lock): marking rows as
        # published is a write like any handler's.
        self._writer = writer or contextlib.nullcontext
        self._wake = asyncio.Event()
        self._stopping = False
        self._failures: dict[str, tuple[int, float]] = {}  # message id -> (attempts, retry at)
        self._lock = asyncio.Lock()
        self._last_purge = 0.0
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; survives database and broker outages."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self.publish_pending()
                if loop.time() - self._last_purge > 60:
                    self._last_purge = loop.time()
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.logger.exception("outbox relay of %s failed; retrying", self.store)
            try:
                async with asyncio.timeout(self._next_wait(loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _next_wait(self, now: float) -> float:
        waits = [self.poll_interval]
        waits += [max(0.0, at - now) for _, at in self._failures.values()]
        return max(0.005, min(waits))

    async def flush(self, timeout: float) -> int:
        """Publish everything unpublished now (shutdown); returns rows left unpublished."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.publish_pending(ignore_backoff=True)
                    left = await self.unpublished_count()
                    if left == 0:
                        return 0
                    await asyncio.sleep(0.1)
        except TimeoutError:
            return await self.unpublished_count()

    async def unpublished_count(self) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(message_outbox)
                .where(message_outbox.c.published_at.is_(None))
            )
            return int(count or 0)

    async def publish_pending(self, *, ignore_backoff: bool = False) -> int:
        """One or more passes over unpublished rows; returns how many were published."""
        total = 0
        async with self._lock:
            while True:
                done, seen = await self._pass(ignore_backoff)
                total += done
                if seen < self.batch_size or done == 0:
                    return total

    async def _pass(self, ignore_backoff: bool) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(message_outbox)
                .where(message_outbox.c.published_at.is_(None))
                .order_by(message_outbox.c.created_at, message_outbox.c.message_id)
                .limit(self.batch_size)
            )
            rows = result.mappings().all()
        if not rows:
            return 0, 0
        loop = asyncio.get_running_loop()
        blocked: set[str] = set()
        published: list[str] = []
        for row in rows:
            subject = row["subject"]
            if subject in blocked:
                continue
            message_id = row["message_id"]
            attempts, retry_at = self._failures.get(message_id, (0, 0.0))
            if not ignore_backoff and retry_at > loop.time():
                blocked.add(subject)
                continue
            try:
                await self._deliver(row)
            except Exception as exc:
                attempts += 1
                delay = min(self.max_backoff, 0.1 * 2 ** min(attempts, 16))
                self._failures[message_id] = (attempts, loop.time() + delay)
                blocked.add(subject)
                self.logger.warning(
                    "outbox %s: delivering %s %s to %s failed (attempt %d, next in %.1fs): %s",
                    self.store,
                    row["message_type"],
                    message_id,
                    subject,
                    attempts,
                    delay,
                    exc,
                )
                continue
            self._failures.pop(message_id, None)
            published.append(message_id)
        if published:
            async with self._writer(), self.engine.begin() as conn:
                await conn.execute(
                    update(message_outbox)
                    .where(message_outbox.c.message_id.in_(published))
                    .values(published_at=self.clock())
                )
            self.published += len(published)
        return len(published), len(rows)

    async def _deliver(self, row: Any) -> None:  # a RowMapping of message_outbox
        headers = loads_headers(row["headers"])
        protocol = headers.get("acme-protocol", "nats")
        channel_id = headers.get("acme-channel")
        payload = str(row["payload"]).encode()
        if protocol in {"http", "https"}:
            if channel_id is None or channel_id not in self.adapters:
                raise ConfigurationError(
                    f"no channel adapter registered for {channel_id or row['subject']!r}: "
                    "call app.channel_adapter(channel_id, deliver) in the system's create()"
                )
            await self.adapters[channel_id](
                OutboxRow(
                    message_id=row["message_id"],
                    subject=row["subject"],
                    message_type=row["message_type"],
                    headers=public_headers(headers),
                    payload=payload,
                    created_at=utc(row["created_at"]) or self.clock(),
                    channel_id=channel_id,
                )
            )
            return
        if self.transport is None:
            raise ConfigurationError("no broker connected to publish the outbox")
        await self.transport.publish(
            row["subject"],
            payload,
            public_headers(headers),
            dedupe_id=headers.get(MESSAGE_ID, row["message_id"]),
        )

    async def purge(self) -> int:
        """Delete published rows older than the retention (they only serve debugging)."""
        if self.retention <= 0:
            return 0
        cutoff = self.clock() - timedelta(seconds=self.retention)
        async with self._writer(), self.engine.begin() as conn:
            result = await conn.execute(
                delete(message_outbox).where(
                    message_outbox.c.published_at.is_not(None),
                    message_outbox.c.published_at < cutoff,
                )
            )
            return int(result.rowcount or 0)
