"""Echo Service: answers every ping with a pong (shaped like a generated service module)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from generator.contracts import (
    ChannelBinding,
    Incoming,
    MessageContext,
    MessageSpec,
    Outbox,
    Outgoing,
    Route,
    ServiceSpec,
)


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class Pong(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


PING = MessageSpec("ping", "1.0.0", "event", "Ping", Ping)
PONG = MessageSpec("pong", "1.0.0", "event", "Pong", Pong)

RECEIVE_PING = Incoming(PING, ChannelBinding("fake.events", "fake.events.ping", "nats"), "on_ping")
SEND_PONG = Outgoing(PONG, ChannelBinding("fake.events", "fake.events.pong", "nats"), "pong")

SERVICE = ServiceSpec(
    id="echo-service",
    name="Echo Service",
    version="1.0.0",
    system="fake-system",
    domain="fake",
    sends=(SEND_PONG,),
    receives=(RECEIVE_PING,),
    writes_to=("echo-database",),
    source="tests/runtime/fake_system/services/echo_service.py",
)


class EchoServiceHandlers(Protocol):
    async def on_ping(self, message: Ping, context: MessageContext) -> None: ...


class EchoServicePublisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def pong(self, payload: Pong, *, key: str | None = None) -> str:
        return await self._outbox.put(SEND_PONG, payload, key=key)


def routes(handlers: EchoServiceHandlers) -> tuple[Route, ...]:
    return (Route(RECEIVE_PING, handlers.on_ping),)
