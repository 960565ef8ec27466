"""Broker adapters: one small class per broker kind, chosen by the broker URL's scheme.

Only this package imports broker-specific FastStream classes; the rest of the runtime sees
`Transport` and `Delivery`.
"""

from __future__ import annotations

import logging

from acme.runtime.settings import Settings, broker_kind
from acme.runtime.transport.base import (
    RPC_PREFIX,
    Delivery,
    MessageCallback,
    PublisherInfo,
    Reply,
    RequestCallback,
    SubscriptionInfo,
    Transport,
)

__all__ = [
    "RPC_PREFIX",
    "Delivery",
    "MessageCallback",
    "PublisherInfo",
    "Reply",
    "RequestCallback",
    "SubscriptionInfo",
    "Transport",
    "create_transport",
]


def create_transport(
    url: str, settings: Settings | None = None, logger: logging.Logger | None = None
) -> Transport:
    """The adapter for `url` (nats://, amqp://, redis://, kafka://), not yet connected."""
    settings = settings or Settings()
    kind = broker_kind(url)
    if kind == "nats":
        from acme.runtime.transport.nats import NatsTransport

        return NatsTransport(url, settings, logger)
    if kind == "rabbit":
        from acme.runtime.transport.rabbit import RabbitTransport

        return RabbitTransport(url, settings, logger)
    if kind == "redis":
        from acme.runtime.transport.redis import RedisTransport

        return RedisTransport(url, settings, logger)
    from acme.runtime.transport.kafka import KafkaTransport

    return KafkaTransport(url, settings, logger)
