"""SystemApp on FastStream's TestNatsBroker: handlers, outbox and request/reply, no server."""

from __future__ import annotations

import pytest

from acme.runtime import SystemApp
from acme.runtime.errors import RuntimeStateError
from acme.runtime.settings import Settings
from acme.runtime.testing import in_memory

from .helpers import build_app, eventually, scalar
from .specs import Ledger, OrderPlaced, QuoteRequest, ShopServicePublisher


def offline(settings: Settings) -> Settings:
    return settings.model_copy(update={"broker_url": "nats://in-memory:4222"})


async def test_outbox_to_handler_without_a_broker_server(settings: Settings) -> None:
    ledger = Ledger()
    async with in_memory(build_app(offline(settings), ledger=ledger)) as app:
        async with app.transaction("shop-service", correlation_id="unit-1") as tx:
            publisher = tx.publisher(ShopServicePublisher)
            await publisher.order_placed(OrderPlaced(order_id="o-mem", amount=2))
            assert (await publisher.get_quote(QuoteRequest(quantity=5))).price == 50

        await eventually(
            lambda: scalar(app, "ledger-db", "SELECT correlation_id FROM entries"), "unit-1"
        )
    assert ledger.calls == {"o-mem": 1}


async def test_in_memory_refuses_a_started_app(settings: Settings) -> None:
    app: SystemApp = build_app(offline(settings))
    app.transport = object()  # type: ignore[assignment]
    with pytest.raises(RuntimeStateError, match="not started"):
        async with in_memory(app):
            pass
