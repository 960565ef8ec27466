"""Redis streams: one stream per subject, one consumer group per service (XREADGROUP/XACK).

Requests use a Redis list `_rpc.<subject>` (each request popped by one replica) and are
answered on the reply channel FastStream creates. A service's group is created at the start of
the stream (FastStream would create it at "$"), so what producers published before the service
first started is delivered, as on NATS. FastStream reads a stream one message at a time per
subscriber, so each subscription runs `consumer_concurrency` consumers of the group (one polling
loop each): a message whose handler is retrying does not hold up the next one. Limitation:
entries left pending by a consumer that crashed are not claimed back automatically (no
XAUTOCLAIM pass yet).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, ClassVar

from faststream import AckPolicy
from faststream.redis import ListSub, RedisBroker, StreamSub
from redis.exceptions import ResponseError

from acme.runtime.settings import BrokerKind
from acme.runtime.transport.base import RPC_PREFIX, Transport, raw_body
from acme.runtime.transport.spec import SubscriptionKind

__all__ = ["RedisTransport"]

# redis-py's pool refuses (rather than waits for) connection 101: each stream consumer holds
# one while it polls, and a burst of publishes needs more.
MAX_CONNECTIONS = 2048


class RedisTransport(Transport):
    kind: ClassVar[BrokerKind] = "redis"

    def _make_broker(self) -> RedisBroker:
        self._groups: list[tuple[str, str]] = []
        self._workers: list[Any] = []  # consumers beyond the first of each subscription
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
            consumer = f"{group}-{socket.gethostname()}-{os.getpid()}-{worker}"
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
            else:
                self._workers.append(sub)
        return first

    async def stop_consuming(self) -> None:
        await super().stop_consuming()
        for sub in self._workers:
            try:
                await sub.stop()
            except Exception:  # one broken consumer must not block the others' shutdown
                self.logger.exception("stopping a stream consumer failed")

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


async def _create_group(client: Any, subject: str, group: str, start: str) -> None:
    try:
        await client.xgroup_create(name=subject, groupname=group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # an existing group keeps its position
            raise
