"""Redis streams: one stream per subject, one consumer group per service (XREADGROUP/XACK).

Requests use a Redis list `_rpc.<subject>` (each request popped by one replica) and are
answered on the reply channel FastStream creates. A service's group is created at the start of
the stream (FastStream would create it at "$"), so what producers published before the service
first started is delivered, as on NATS. FastStream reads a stream one message at a time per
subscriber, so each subscription runs `consumer_concurrency` consumers of the group (one polling
loop each): a message whose handler is retrying does not hold up the next one.

A consumer that dies (kill -9) leaves what it had read but not acknowledged in the group's
pending entries list (PEL), and its successor, under a new consumer name, reads only new
entries. So each subscription also runs a claim pass (`_Claimer`): every quarter of
`ack_wait_seconds` it takes over, with XAUTOCLAIM, the entries pending longer than
`ack_wait_seconds` (JetStream's AckWait) and hands them to the subscription's handler like any
other message, with their delivery count (XPENDING's times-delivered), so that a message
whose handler keeps dying still ends as a dead letter after `max_attempts`. A nack (shutdown
mid-retry) leaves the entry pending too: it is claimed the same way. At start, the entries of
earlier consumers of this host whose process is gone are claimed at once, without waiting
for the ack wait, and those consumers are removed from the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any, ClassVar

from faststream import AckPolicy
from faststream.redis import ListSub, RedisBroker, StreamSub
from faststream.redis.message import DefaultStreamMessage
from redis.exceptions import ResponseError

from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["RedisTransport"]

# redis-py's pool refuses (rather than waits for) connection 101: each stream consumer holds
# one while it polls, and a burst of publishes needs more.
MAX_CONNECTIONS = 2048
CLAIM_BATCH = 64  # entries taken over per XAUTOCLAIM call


class RedisTransport(Transport):
    kind: ClassVar[BrokerKind] = "redis"

    def _make_broker(self) -> RedisBroker:
        self._groups: list[tuple[str, str]] = []
        self._workers: list[Any] = []  # consumers beyond the first of each subscription
        self._claimers: list[_Claimer] = []
        return RedisBroker(
            self.url,
            max_connections=MAX_CONNECTIONS,
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        self._groups.append((subject, group))
        first: Any = None
        for worker in range(self.settings.consumer_concurrency):
            consumer = f"{consumer_prefix(group)}{os.getpid()}-{worker}"
            sub = self.broker.subscriber(
                stream=StreamSub(subject, group=group, consumer=consumer, polling_interval=1000),
                ack_policy=AckPolicy.MANUAL,
                decoder=raw_body,
                no_reply=True,
                # the first consumer stands for the subscription in the AsyncAPI document
                **(doc if first is None else {**doc, "include_in_schema": False}),
            )
            sub(handler)
            if first is None:
                first = sub
                self._claimers.append(_Claimer(self, subject, group, consumer, sub))
            else:
                self._workers.append(sub)
        return first

    def _delivery_count(self, message: Any) -> int | None:
        # Set on entries the claim pass took over (previous deliveries); a new entry is 1.
        counts = message.raw_message.get("delivery_counts") or [0]
        return int(counts[0]) + 1

    async def start(self) -> None:
        await super().start()
        client = await self.broker.connect()
        for claimer in self._claimers:
            claimer.start(client)

    async def stop_consuming(self) -> None:
        for claimer in self._claimers:
            claimer.stopping.set()  # no new claims; what is being handled finishes
        await super().stop_consuming()
        await asyncio.gather(*(c.wait(self.settings.shutdown_timeout) for c in self._claimers))
        for sub in self._workers:
            try:
                await sub.stop()
            except Exception:  # one broken consumer must not block the others' shutdown
                self.logger.exception("stopping a stream consumer failed")

    async def close(self) -> None:
        for claimer in self._claimers:  # closed without stop_consuming: claims stop at once
            claimer.stopping.set()
        await asyncio.gather(*(c.wait(0) for c in self._claimers))
        await super().close()

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        rpc_list = ListSub(RPC_PREFIX + subject, polling_interval=0.05)
        sub = self.broker.subscriber(list=rpc_list, decoder=raw_body, **doc)
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        if kind == "requests":
            return self.broker.publisher(list=RPC_PREFIX + subject, **doc)
        return self.broker.publisher(stream=subject, **doc)

    async def _prepare(self) -> None:
        client = await self.broker.connect()
        for subject, group in self._groups:
            await _create_group(client, subject, group, "0")

    async def _purge(self, subject: str, group: str) -> None:
        client = await self.broker.connect()
        with contextlib.suppress(ResponseError):  # no such stream or group
            await client.xgroup_destroy(subject, group)
        # from now on: `_prepare` then finds the group and leaves it where it is
        await _create_group(client, subject, group, "$")
        await client.delete(RPC_PREFIX + subject)

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        await self.broker.publish(body, stream=subject, headers=headers)

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        return await self.broker.request(body, list=subject, headers=headers, timeout=timeout)


def consumer_prefix(group: str) -> str:
    """How the names of this host's consumers of `group` begin (then: pid-worker)."""
    return f"{group}-{socket.gethostname()}-"


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        # ours (or an earlier process's with our pid, whose entries wait for the ack wait)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


class _Claimer:
    """The claim pass of one subscription (see the module docstring).

    Claimed entries go through the subscription's first FastStream subscriber (`consume`), so
    they take the same path as entries it reads itself: parser, context, handler, ack."""

    def __init__(
        self, transport: RedisTransport, subject: str, group: str, consumer: str, sub: Any
    ) -> None:
        self.transport = transport
        self.subject = subject
        self.group = group
        self.consumer = consumer  # claimed entries are owned by the first consumer
        self.sub = sub
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        ack_wait = transport.settings.ack_wait_seconds
        self.min_idle_ms = max(1, int(ack_wait * 1000))
        self.interval = min(max(ack_wait / 4, 0.05), 15.0)
        self.slots = asyncio.Semaphore(transport.settings.consumer_concurrency)
        self.logger = transport.logger

    def start(self, client: Any) -> None:
        self.stopping.clear()
        self.task = asyncio.create_task(self._run(client), name=f"claim {self.subject}")

    async def wait(self, timeout: float) -> None:
        if self.task is None:
            return
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.task), timeout)
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None

    async def _run(self, client: Any) -> None:
        try:
            await self._orphans(client)
        except Exception:
            self.logger.exception("claiming entries of stopped consumers of %s failed", self.group)
        cursor: Any = "0-0"
        while not self.stopping.is_set():
            try:
                cursor = await self._pass(client, cursor)
            except Exception:
                self.logger.exception(
                    "claim pass on %s (group %s) failed", self.subject, self.group
                )
                cursor = "0-0"
            if cursor in ("0-0", b"0-0"):  # the whole PEL scanned: wait for the next pass
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.interval)

    async def _pass(self, client: Any, cursor: Any) -> Any:
        """One XAUTOCLAIM call from `cursor`; returns the cursor of the next one."""
        reply = await client.xautoclaim(
            self.subject,
            self.group,
            self.consumer,
            min_idle_time=self.min_idle_ms,
            start_id=cursor,
            count=CLAIM_BATCH,
        )
        next_cursor, entries = reply[0], reply[1]
        await self._deliver(client, [(entry_id, data) for entry_id, data in entries if data])
        return next_cursor

    async def _orphans(self, client: Any) -> None:
        """Take over at once the entries of this host's consumers whose process is gone."""
        prefix = consumer_prefix(self.group)
        try:
            consumers = await client.xinfo_consumers(self.subject, self.group)
        except Exception:  # no such group yet: nothing left behind
            return
        for info in consumers:
            name = _text(info.get("name"))
            rest = name[len(prefix) :] if name.startswith(prefix) else ""
            pid = rest.split("-", 1)[0]
            if not pid.isdigit() or not _process_gone(int(pid)):
                continue
            while not self.stopping.is_set():
                pending = await client.xpending_range(
                    self.subject, self.group, "-", "+", CLAIM_BATCH, consumername=name
                )
                if not pending:
                    break
                ids = [p["message_id"] for p in pending]
                claimed = await client.xclaim(self.subject, self.group, self.consumer, 0, ids)
                await self._deliver(client, [(i, d) for i, d in claimed if d])
                if len(pending) < CLAIM_BATCH:
                    break
            if not await self._owns_entries(client, name):
                await client.xgroup_delconsumer(self.subject, self.group, name)
                self.logger.info(
                    "%s: took over the entries of consumer %s (process gone)", self.group, name
                )

    async def _owns_entries(self, client: Any, name: str) -> bool:
        pending = await client.xpending_range(
            self.subject, self.group, "-", "+", 1, consumername=name
        )
        return bool(pending)

    async def _deliver(self, client: Any, entries: list[tuple[Any, Any]]) -> None:
        """Hand claimed entries to the handler, at most consumer_concurrency at once."""
        if not entries:
            return
        counts: dict[Any, int] = {}
        for entry_id, _ in entries:
            info = await client.xpending_range(
                self.subject, self.group, entry_id, entry_id, 1, consumername=self.consumer
            )
            counts[entry_id] = int(info[0]["times_delivered"]) if info else 2
        self.logger.warning(
            "%s: redelivering %d entries of %s left unacknowledged",
            self.group,
            len(entries),
            self.subject,
        )
        await asyncio.gather(*(self._one(i, d, counts[i]) for i, d in entries))

    async def _one(self, entry_id: Any, data: Any, delivered: int) -> None:
        async with self.slots:
            message = DefaultStreamMessage(
                type="stream",
                channel=self.subject,
                message_ids=[entry_id],
                data=data,
                idle_times=[0],
                delivery_counts=[delivered - 1],
            )
            await self.sub.consume(message)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _create_group(client: Any, subject: str, group: str, start: str) -> None:
    try:
        await client.xgroup_create(name=subject, groupname=group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # an existing group keeps its position
            raise
