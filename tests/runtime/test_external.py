"""The same system on the machine's servers: each broker adapter, and PostgreSQL stores.

Run with ACME_EXTERNAL=1 (RabbitMQ 5672, Redis 6379, NATS 4222, PostgreSQL 5432 on localhost).
Order ids are unique per run, so leftovers of earlier runs on the shared servers do not count.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from acme.runtime import SystemApp
from acme.runtime.deadletter import list_dead_letters
from acme.runtime.settings import Settings

from .helpers import build_app, eventually, scalar, with_broker
from .specs import Ledger, OrderPlaced, QuoteRequest, ShopServicePublisher

pytestmark = pytest.mark.external

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/acme_ext_{store}"


@pytest.fixture(
    params=[
        pytest.param(("nats://127.0.0.1:4222", None), id="nats+sqlite"),
        pytest.param(("amqp://guest:guest@127.0.0.1:5672/", None), id="rabbit+sqlite"),
        pytest.param(("redis://127.0.0.1:6379", None), id="redis+sqlite"),
        pytest.param(("nats://127.0.0.1:4222", PG), id="nats+postgres"),
    ]
)
def configured(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    broker, database = request.param
    return with_broker(settings, broker, database_url=database)


@pytest.fixture
async def app(configured: Settings) -> AsyncIterator[SystemApp]:
    ledger = Ledger()
    app = build_app(configured, ledger=ledger, with_webhook=False, with_charge=False)
    await app.start()
    yield app
    await app.stop()
    if configured.database_url:
        await _drop_databases(("shop-db", "ledger-db", "runtime"))


async def _drop_databases(stores: tuple[str, ...]) -> None:
    admin = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        for store in stores:
            name = "acme_ext_" + store.replace("-", "_")
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.dispose()


async def test_outbox_consumer_dead_letter_and_request_reply(
    app: SystemApp, configured: Settings
) -> None:
    run = uuid.uuid4().hex[:8]
    async with app.transaction("shop-service") as tx:
        publisher = tx.publisher(ShopServicePublisher)
        await publisher.order_placed(OrderPlaced(order_id=f"ok-{run}", amount=5))
        await publisher.order_placed(OrderPlaced(order_id=f"fail-{run}", amount=5))
        quote = await publisher.get_quote(QuoteRequest(quantity=3))
    assert quote.price == 30

    await eventually(
        lambda: scalar(app, "ledger-db", "SELECT count(*) FROM entries WHERE order_id = :o",
                       o=f"ok-{run}"),
        1,
        timeout=20,
    )  # fmt: skip

    async def dead_for_run() -> list[str]:
        letters = await list_dead_letters(configured, service="ledger-service")
        return [d.reason for d in letters if f"fail-{run}" in d.payload]

    await eventually(dead_for_run, ["failed"], timeout=20)
