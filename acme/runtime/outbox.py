"""Transactional outbox: messages are rows written with the state change, published later.

`TxOutbox.put` writes a `message_outbox` row on the transaction's connection, so the message
exists exactly when the state change committed. The `Relay` publishes unpublished rows in
creation order (per subject) and marks them: the rows of a commit are handed to it in memory
right after the commit, and it also scans the table, so rows left behind by a crash are
published by the next process that opens the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, delete, func, select, update
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

__all__ = [
    "ChannelAdapter",
    "OutboxRow",
    "PendingRow",
    "Relay",
    "TxOutbox",
    "outbox_message_id",
]

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
        created_at = _ORDER.next(tx.now())
        inserted = await insert_ignore(
            tx.conn,
            message_outbox,
            {
                "message_id": message_id,
                "subject": channel.address,
                "message_type": message.id,
                "headers": json.dumps(headers, sort_keys=True),
                "payload": body.decode(),
                "created_at": created_at,
                "published_at": None,
            },
        )
        if inserted:
            tx.staged += 1
            # handed to the relay once the transaction commits (see SystemApp.transaction)
            tx.pending.append(
                PendingRow(message_id, channel.address, message.id, headers, body, created_at)
            )
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
    rows after it on the same subject and is retried with back-off; other subjects go on.

    Two sources, one order. Right after a commit, `submit` hands the transaction's rows over
    in memory, and the relay publishes them without reading them back. A scan of the table
    (at start, every `poll_interval`, and on every wake while a delivery is failing) finds
    whatever was not handed over: rows of a crashed process, of a failed delivery, of
    another writer. While rows found by a scan are not all published, handed-over rows are
    left to the scans, so nothing overtakes an older row of its subject.

    Rows are marked published in batches (at most `mark_delay` after their publish, before
    every scan and on flush). A crash in between publishes them again on the next start: the
    broker drops the copy (the message id is its deduplication id) and consumers' inboxes
    would skip it anyway, so delivery stays at least once with no second effect.
    """

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
        mark_delay: float = 0.1,
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
        self.mark_delay = mark_delay
        self.logger = logger or logging.getLogger("acme.relay")
        # The store's in-process writer queue (see Stores.writer_lock): marking rows as
        # published is a write like any handler's.
        self._writer = writer or contextlib.nullcontext
        self._wake = asyncio.Event()
        self._stopping = False
        self._failures: dict[str, tuple[int, float]] = {}  # message id -> (attempts, retry at)
        self._lock = asyncio.Lock()
        self._last_purge = 0.0
        self._ready: deque[PendingRow] = deque()  # handed over by committed transactions
        self._needs_scan = True  # the table may hold rows nobody handed over
        self._scanning = False
        self._next_scan = 0.0  # loop time of the next routine scan
        self._unmarked: dict[str, datetime] = {}  # published, not marked yet: id -> when
        self._mark_at: float | None = None  # loop time the oldest unmarked row is due
        self._recent: dict[str, None] = {}  # ids published lately (skip a second copy)
        # Statements built once: SQLAlchemy then reuses their compiled form.
        self._select = (
            select(message_outbox)
            .where(message_outbox.c.published_at.is_(None))
            .order_by(message_outbox.c.created_at, message_outbox.c.message_id)
            .limit(batch_size)
        )
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    def submit(self, rows: Sequence[PendingRow]) -> None:
        """Rows a transaction has just committed, in creation order."""
        if rows and (self._scanning or not self._needs_scan):
            # While scans are pending (not running) the next one finds these rows itself.
            self._ready.extend(rows)
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; survives database and broker outages."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self.publish_pending()
                await self._mark()
                if loop.time() - self._last_purge > 60:
                    self._last_purge = loop.time()
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._needs_scan = True
                self.logger.exception("outbox relay of %s failed; retrying", self.store)
            if self._ready and not self._needs_scan:
                continue  # handed over while publishing: no need to sleep
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
        waits = [self._next_scan - now]
        if self._mark_at is not None:
            waits.append(self._mark_at - now)
        if self._needs_scan:
            waits += [at - now for _, at in self._failures.values()]
        return max(0.005, min(waits))

    async def flush(self, timeout: float) -> int:
        """Publish everything unpublished now (shutdown); returns rows left unpublished."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._needs_scan = True
                    await self.publish_pending(ignore_backoff=True)
                    await self._mark(force=True)
                    left = await self.unpublished_count()
                    if left == 0:
                        return 0
                    await asyncio.sleep(0.1)
        except TimeoutError:
            with contextlib.suppress(Exception):
                await self._mark(force=True)
            return await self.unpublished_count()

    async def unpublished_count(self) -> int:
        """Rows not published yet (rows published but not marked yet do not count)."""
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(message_outbox)
                .where(message_outbox.c.published_at.is_(None))
            )
        return max(0, int(count or 0) - len(self._unmarked))

    async def publish_pending(self, *, ignore_backoff: bool = False) -> int:
        """Publish what was handed over, scanning the table when due; returns how many."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            total = 0
            if self._needs_scan or loop.time() >= self._next_scan:
                total += await self._scan(ignore_backoff)
            while self._ready and not self._needs_scan:
                batch: list[PendingRow] = []
                while self._ready and len(batch) < self.batch_size:
                    row = self._ready.popleft()
                    if row.message_id not in self._recent:
                        batch.append(row)
                published, clean = await self._deliver_batch(batch, ignore_backoff)
                total += published
                if not clean:
                    # The rest waits in the table for the scans, behind the failed row.
                    self._needs_scan = True
                    self._ready.clear()
            return total

    async def _scan(self, ignore_backoff: bool) -> int:
        loop = asyncio.get_running_loop()
        self._next_scan = loop.time() + self.poll_interval
        # Marked rows are not read back, and rows handed over so far are in the table.
        await self._mark(force=True)
        self._scanning = True
        self._ready.clear()
        total = 0
        try:
            while True:
                async with self.engine.connect() as conn:
                    result = await conn.execute(self._select)
                    rows = [_pending(row) for row in result.mappings()]
                fresh = [r for r in rows if r.message_id not in self._recent]
                published, clean = await self._deliver_batch(fresh, ignore_backoff)
                total += published
                if len(rows) < self.batch_size:
                    # Every unpublished row was in view: forget failures of rows gone since.
                    waiting = {r.message_id for r in rows}
                    self._failures = {k: v for k, v in self._failures.items() if k in waiting}
                if len(rows) < self.batch_size or published == 0:
                    # Caught up when nothing is held back; else scan again on the next wake.
                    self._needs_scan = not clean or len(rows) >= self.batch_size
                    return total
        except BaseException:
            self._needs_scan = True
            raise
        finally:
            self._scanning = False

    async def _deliver_batch(
        self, rows: Sequence[PendingRow], ignore_backoff: bool
    ) -> tuple[int, bool]:
        """Deliver rows, subjects side by side, each subject in order; returns (published,
        clean) where clean means no row was held back by a failure."""
        if not rows:
            return 0, True
        by_subject: dict[str, list[PendingRow]] = {}
        for row in rows:
            by_subject.setdefault(row.subject, []).append(row)
        if len(by_subject) == 1:
            outcomes = [await self._deliver_subject(rows, ignore_backoff)]
        else:
            outcomes = await asyncio.gather(
                *(self._deliver_subject(r, ignore_backoff) for r in by_subject.values())
            )
        published = sum(done for done, _ in outcomes)
        if published:
            self.published += published
            if self._mark_at is None:
                self._mark_at = asyncio.get_running_loop().time() + self.mark_delay
        return published, all(clean for _, clean in outcomes)

    async def _deliver_subject(
        self, rows: Sequence[PendingRow], ignore_backoff: bool
    ) -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        done = 0
        for row in rows:
            message_id = row.message_id
            attempts, retry_at = self._failures.get(message_id, (0, 0.0))
            if not ignore_backoff and retry_at > loop.time():
                return done, False
            try:
                await self._deliver(row)
            except Exception as exc:
                attempts += 1
                delay = min(self.max_backoff, 0.1 * 2 ** min(attempts, 16))
                self._failures[message_id] = (attempts, loop.time() + delay)
                self.logger.warning(
                    "outbox %s: delivering %s %s to %s failed (attempt %d, next in %.1fs): %s",
                    self.store,
                    row.message_type,
                    message_id,
                    row.subject,
                    attempts,
                    delay,
                    exc,
                )
                return done, False
            self._failures.pop(message_id, None)
            self._unmarked[message_id] = self.clock()
            self._recent[message_id] = None
            if len(self._recent) > _RECENT:
                del self._recent[next(iter(self._recent))]
            done += 1
        return done, True

    async def _mark(self, *, force: bool = False) -> None:
        """Record published rows in the table (when due, or now with `force`)."""
        if not self._unmarked:
            self._mark_at = None
            return
        loop = asyncio.get_running_loop()
        due = self._mark_at is None or loop.time() >= self._mark_at
        if not (force or due or len(self._unmarked) >= self.batch_size):
            return
        marks = self._unmarked
        self._unmarked, self._mark_at = {}, None
        try:
            async with self._writer(), self.engine.begin() as conn:
                await conn.execute(_MARK, [{"mid": m, "at": at} for m, at in marks.items()])
        except BaseException:
            self._unmarked = {**marks, **self._unmarked}  # try again later
            self._mark_at = loop.time() + self.poll_interval
            raise

    async def _deliver(self, row: PendingRow) -> None:
        headers = row.headers
        protocol = headers.get(PROTOCOL_HEADER, "nats")
        channel_id = headers.get(CHANNEL_HEADER)
        if protocol in {"http", "https"}:
            if channel_id is None or channel_id not in self.adapters:
                raise ConfigurationError(
                    f"no channel adapter registered for {channel_id or row.subject!r}: "
                    "call app.channel_adapter(channel_id, deliver) in the system's create()"
                )
            await self.adapters[channel_id](
                OutboxRow(
                    message_id=row.message_id,
                    subject=row.subject,
                    message_type=row.message_type,
                    headers=public_headers(headers),
                    payload=row.payload,
                    created_at=row.created_at,
                    channel_id=channel_id,
                )
            )
            return
        if self.transport is None:
            raise ConfigurationError("no broker connected to publish the outbox")
        await self.transport.publish(
            row.subject,
            row.payload,
            public_headers(headers),
            dedupe_id=headers.get(MESSAGE_ID, row.message_id),
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


@dataclass(frozen=True, slots=True)
class PendingRow:
    """An outbox row on its way to the broker (or a channel adapter)."""

    message_id: str
    subject: str
    message_type: str
    headers: Mapping[str, str]  # including the runtime's internal routing headers
    payload: bytes
    created_at: datetime


_RECENT = 4096  # ids remembered as published, to skip a copy handed over twice

_MARK = (
    update(message_outbox)
    .where(message_outbox.c.message_id == bindparam("mid"))
    .values(published_at=bindparam("at"))
)


def _pending(row: Any) -> PendingRow:  # a RowMapping of message_outbox
    return PendingRow(
        message_id=row["message_id"],
        subject=row["subject"],
        message_type=row["message_type"],
        headers=loads_headers(row["headers"]),
        payload=str(row["payload"]).encode(),
        created_at=utc(row["created_at"]) or datetime.now(UTC),
    )
