"""Run a SystemApp on FastStream's in-memory NATS test broker (no server), for unit tests.

    app = SystemApp(host, settings)
    create(app)
    async with in_memory(app):
        ...  # publish through app.transaction(...), call app.consumers[...].process(...)

Stores are real (SQLite under settings.data_dir), so outbox, inbox, retries and dead letters
behave as in production; only the broker is simulated. Use the embedded NATS for anything
about delivery itself (redelivery, consumer groups, ordering).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.nats import TestNatsBroker

from acme.runtime.app import SystemApp
from acme.runtime.errors import RuntimeStateError
from acme.runtime.transport.nats import NatsTransport

__all__ = ["in_memory"]


@asynccontextmanager
async def in_memory(app: SystemApp) -> AsyncIterator[SystemApp]:
    """Start `app` on a TestNatsBroker; stop it (flushing outboxes) on exit."""
    if app.started or app.transport is not None:
        raise RuntimeStateError("in_memory() needs an app that is not started and has no broker")
    transport = NatsTransport("nats://in-memory:4222", app.settings, app.logger)
    app.transport = transport
    async with TestNatsBroker(transport.broker):
        await app.start()
        try:
            yield app
        finally:
            await app.stop()
