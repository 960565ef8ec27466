"""Redis streams: one stream per subject, one consumer group per service (XREADGROUP/XACK).

Requests use a Redis list `_rpc.<subject>` (each request popped by one replica) and are
answered on the reply channel FastStream creates. Limitation: entries left pending by a
consumer that crashed are not claimed back automatically (no XAUTOCLAIM pass yet).
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


class RedisTransport(Transport):
    kind: ClassVar[BrokerKind] = "redis"

    def _make_broker(self) -> RedisBroker:
        return RedisBroker(
            self.url,
            logger=self.broker_logger,
            log_level=logging.DEBUG,
            graceful_timeout=self.settings.shutdown_timeout,
        )

    def _register_events(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        consumer = f"{group}-{socket.gethostname()}-{os.getpid()}"
        sub = self.broker.subscriber(
            stream=StreamSub(subject, group=group, consumer=consumer, polling_interval=1000),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            no_reply=True,
            **doc,
        )
        sub(handler)
        return sub

    def _register_requests(self, subject: str, group: str, handler: Any, **doc: Any) -> Any:
        rpc_list = ListSub(RPC_PREFIX + subject, polling_interval=0.05)
        sub = self.broker.subscriber(list=rpc_list, decoder=raw_body, **doc)
        sub(handler)
        return sub

    def _register_publisher(self, subject: str, kind: SubscriptionKind, **doc: Any) -> Any:
        if kind == "requests":
            return self.broker.publisher(list=RPC_PREFIX + subject, **doc)
        return self.broker.publisher(stream=subject, **doc)

    async def _purge(self, subject: str, group: str) -> None:
        client = await self.broker.connect()
        with contextlib.suppress(ResponseError):  # no such stream or group
            # recreated at start from "$": only messages published from then on
            await client.xgroup_destroy(subject, group)
        await client.delete(RPC_PREFIX + subject)

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], dedupe_id: str | None
    ) -> None:
        await self.broker.publish(body, stream=subject, headers=headers)

    async def _request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Any:
        return await self.broker.request(body, list=subject, headers=headers, timeout=timeout)
