"""Transactional outbox: atomic with the state change, published by the relay, survives crashes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from acme.runtime import OutboxRow, SystemApp
from acme.runtime.errors import ConfigurationError, RuntimeStateError
from acme.runtime.settings import Settings
from generator.contracts import Outgoing

from .helpers import (
    RecordingAdapter,
    build_app,
    crash,
    eventually,
    listen,
    scalar,
    wait_for,
    with_broker,
)
from .specs import (
    GET_QUOTE,
    ORDERS,
    SEND_ORDER_PLACED,
    ChargeRequested,
    OrderPlaced,
    QuoteRequest,
    ShopServicePublisher,
)


@pytest.fixture
async def app(settings: Settings, nats_url: str):  # type: ignore[no-untyped-def]
    app = build_app(with_broker(settings, nats_url))
    await app.start()
    yield app
    await app.stop()


async def outbox_rows(app: SystemApp) -> list[tuple[str, str, object]]:
    async with app.store("shop-db").connect() as conn:
        rows = await conn.execute(
            text("SELECT message_id, message_type, published_at FROM message_outbox")
        )
        return [tuple(r) for r in rows]


async def test_rollback_leaves_neither_state_nor_message(app: SystemApp) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with app.transaction("shop-service") as tx:
            await tx.conn.execute(text("INSERT INTO orders VALUES ('o-rolled', 5)"))
            await tx.publisher(ShopServicePublisher).order_placed(
                OrderPlaced(order_id="o-rolled", amount=5)
            )
            raise RuntimeError("boom")

    assert await outbox_rows(app) == []
    assert await scalar(app, "shop-db", "SELECT count(*) FROM orders") == 0
    await app.relays["shop-db"].publish_pending()
    await asyncio.sleep(0.3)
    assert await scalar(app, "ledger-db", "SELECT count(*) FROM entries") == 0


async def test_commit_publishes_and_marks_the_row(app: SystemApp, nats_url: str) -> None:
    async with app.transaction("shop-service", correlation_id="checkout-1") as tx:
        await tx.conn.execute(text("INSERT INTO orders VALUES ('o-1', 7)"))
        message_id = await tx.publisher(ShopServicePublisher).order_placed(
            OrderPlaced(order_id="o-1", amount=7)
        )

    await eventually(
        lambda: scalar(
            app, "ledger-db", "SELECT count(*) FROM entries WHERE correlation_id = 'checkout-1'"
        ),
        1,
    )
    await eventually(
        lambda: scalar(
            app,
            "shop-db",
            "SELECT count(*) FROM message_outbox"
            " WHERE message_id = :m AND published_at IS NOT NULL",
            m=message_id,
        ),
        1,
    )


async def test_wire_headers_of_a_published_message(
    app: SystemApp, nats_url: str, settings: Settings
) -> None:
    listener, got = await listen(nats_url, settings, ORDERS.address, "header-probe")
    try:
        async with app.transaction("shop-service", correlation_id="corr-9") as tx:
            message_id = await tx.publisher(ShopServicePublisher).order_placed(
                OrderPlaced(order_id="o-h", amount=1)
            )
        await wait_for(lambda: any(d.headers.get("message-id") == message_id for d in got))
    finally:
        await listener.close()
    delivery = next(d for d in got if d.headers["message-id"] == message_id)
    assert delivery.body == b'{"orderId":"o-h","amount":1}'  # aliases on the wire
    assert delivery.headers["message-type"] == "order-placed"
    assert delivery.headers["message-version"] == "1.2.0"
    assert delivery.headers["correlation-id"] == "corr-9"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["traceparent"].startswith("00-")
    assert not any(k.startswith("acme-") for k in delivery.headers)


async def test_rows_left_by_a_crash_are_published_on_restart(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    first = build_app(configured)
    await first.start()
    # The relay dies first (as in a crash right after the commit).
    for relay in first.relays.values():
        relay.stop()
    await asyncio.gather(*first._relay_tasks, return_exceptions=True)
    async with first.transaction("shop-service") as tx:
        await tx.publisher(ShopServicePublisher).order_placed(OrderPlaced(order_id="o-c", amount=3))
    rows = await outbox_rows(first)
    assert len(rows) == 1 and rows[0][2] is None, "committed but not published"
    await crash(first)

    second = build_app(configured)
    await second.start()
    try:
        await eventually(
            lambda: scalar(
                second, "ledger-db", "SELECT count(*) FROM entries WHERE order_id='o-c'"
            ),
            1,
        )
        await eventually(
            lambda: scalar(
                second, "shop-db", "SELECT count(*) FROM message_outbox WHERE published_at IS NULL"
            ),
            0,
        )
    finally:
        await second.stop()


async def test_key_makes_put_idempotent(app: SystemApp) -> None:
    ids = []
    for _ in range(2):  # e.g. the same handler retried after a rollback elsewhere
        async with app.transaction("shop-service") as tx:
            ids.append(
                await tx.publisher(ShopServicePublisher).order_placed(
                    OrderPlaced(order_id="o-k", amount=1), key="order:o-k"
                )
            )
    assert ids[0] == ids[1]
    assert len(await outbox_rows(app)) == 1


async def test_publishing_what_the_catalog_does_not_list_is_refused(app: SystemApp) -> None:
    stranger = Outgoing(GET_QUOTE, ORDERS, "get_quote")  # not in shop-service's sends
    async with app.transaction("ledger-service") as tx:
        with pytest.raises(ConfigurationError, match="ledger-service does not send order-placed"):
            await tx.outbox.put(SEND_ORDER_PLACED, OrderPlaced(order_id="x", amount=1))
        with pytest.raises(ConfigurationError, match="does not send get-quote"):
            await tx.outbox.put(stranger, QuoteRequest(quantity=1))


async def test_wrong_payload_type_is_refused(app: SystemApp) -> None:
    async with app.transaction("shop-service") as tx:
        with pytest.raises(TypeError, match="expects a OrderPlaced payload"):
            await tx.outbox.put(SEND_ORDER_PLACED, QuoteRequest(quantity=1))
        invalid = OrderPlaced.model_construct(order_id="x", amount=-5)  # skips validation
        with pytest.raises(ValueError, match="invalid order-placed payload"):
            await tx.outbox.put(SEND_ORDER_PLACED, invalid)


async def test_current_outside_a_transaction_says_where_it_works() -> None:
    from acme.runtime import current
    from acme.runtime.errors import RuntimeStateError

    with pytest.raises(RuntimeStateError, match="inside a message handler"):
        current()


async def test_nested_transaction_on_the_same_store_is_refused(app: SystemApp) -> None:
    # quote-service shares shop-db with shop-service (first container of the host).
    async with app.transaction("shop-service"):
        with pytest.raises(RuntimeStateError, match="quote-service writes to the same store"):
            async with app.transaction("quote-service"):
                pass
        async with app.transaction("ledger-service") as other:  # another store is fine
            assert other.store == "ledger-db"


async def test_a_row_nobody_handed_over_is_found_by_the_next_scan(
    settings: Settings, nats_url: str
) -> None:
    # e.g. written by another process on the same store: no commit of this app announces it
    app = build_app(with_broker(settings, nats_url, relay_poll_interval=0.2))
    await app.start()
    try:
        await app.relays["shop-db"].publish_pending()  # the first scan is behind us
        headers = {
            "message-id": "m-foreign",
            "message-type": "order-placed",
            "message-version": "1.2.0",
            "correlation-id": "foreign-1",
            "acme-protocol": "nats",
        }
        async with app.store("shop-db").begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO message_outbox (message_id, subject, message_type, headers, "
                    "payload, created_at) VALUES ('m-foreign', :s, 'order-placed', :h, :p, :c)"
                ),
                {
                    "s": ORDERS.address,
                    "h": json.dumps(headers),
                    "p": '{"orderId": "o-foreign", "amount": 4}',
                    "c": datetime.now(UTC),
                },
            )
        await eventually(
            lambda: scalar(
                app, "ledger-db", "SELECT count(*) FROM entries WHERE order_id = 'o-foreign'"
            ),
            1,
        )
        await eventually(lambda: unpublished(app), 0)
    finally:
        await app.stop()


async def test_crash_between_publish_and_mark_has_no_second_effect(
    settings: Settings, nats_url: str
) -> None:
    configured = with_broker(settings, nats_url)
    first = build_app(configured)
    await first.start()
    first.relays["shop-db"].mark_delay = 3600.0  # published rows stay unmarked until the crash
    async with first.transaction("shop-service") as tx:
        await tx.publisher(ShopServicePublisher).order_placed(OrderPlaced(order_id="o-m", amount=2))
    count = "SELECT count(*) FROM entries WHERE order_id = 'o-m'"
    await eventually(lambda: scalar(first, "ledger-db", count), 1)
    assert await unpublished(first) == 1, "published, but not marked yet"
    await crash(first)

    second = build_app(configured)
    await second.start()
    try:
        await eventually(lambda: unpublished(second), 0)  # published again on start...
        await asyncio.sleep(0.5)
        assert await scalar(second, "ledger-db", count) == 1  # ...without a second effect
    finally:
        await second.stop()


async def test_a_failing_row_holds_back_later_rows_of_its_subject(
    settings: Settings, nats_url: str
) -> None:
    attempts: list[str] = []
    adapter = RecordingAdapter(failures=2)

    async def deliver(row: OutboxRow) -> None:
        attempts.append(row.message_id)
        await adapter(row)

    app = build_app(with_broker(settings, nats_url), adapter=deliver)
    await app.start()
    try:
        ids = []
        for n in range(3):  # three commits in a row, the first delivery fails twice
            async with app.transaction("shop-service") as tx:
                ids.append(
                    await tx.publisher(ShopServicePublisher).charge_requested(
                        ChargeRequested(order_id=f"o-{n}", amount=n)
                    )
                )
        await eventually(lambda: delivered(adapter), 3, timeout=15)
        first, second, third = ids
        assert attempts == [first, first, first, second, third], "nothing overtakes a failure"
        await eventually(lambda: unpublished(app), 0)
    finally:
        await app.stop()


async def unpublished(app: SystemApp) -> int:
    sql = "SELECT count(*) FROM message_outbox WHERE published_at IS NULL"
    return int(await scalar(app, "shop-db", sql))


async def delivered(adapter: RecordingAdapter) -> int:
    return len(adapter.delivered)
