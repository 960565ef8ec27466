"""The hand-written implementation of `fake-system` (what acme/systems/<x> will look like).

A ping with text "slow:<path>" touches <path> when its handler starts and then takes a
while, so a test can stop the process while that handler is in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fake_system.http.echo_service import PingCount
from fake_system.services.echo_service import EchoServicePublisher, Ping, Pong
from sqlalchemy import text

from acme.runtime import SystemApp, current
from generator.contracts import MessageContext, RequestContext


class EchoHandlers:
    async def on_ping(self, message: Ping, context: MessageContext) -> None:
        tx = current()
        if message.text.startswith("slow:"):
            Path(message.text.removeprefix("slow:")).touch()
            await asyncio.sleep(1.5)
        await tx.conn.execute(
            text("INSERT INTO pings (message_id, text) VALUES (:m, :t)"),
            {"m": context.message_id, "t": message.text},
        )
        await tx.publisher(EchoServicePublisher).pong(Pong(text=message.text))


class EchoHttp:
    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def count_pings(self, request: RequestContext) -> PingCount:
        async with self.app.store("echo-database").connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM pings"))
        return PingCount(count=int(count or 0))


def create(app: SystemApp) -> None:
    app.handle("echo-service", EchoHandlers())
    app.serve("echo-service", EchoHttp(app))
