"""The invariant checks themselves: silent on a consistent world, loud on each kind of damage.

A small world is written straight into SQLite files laid out like the platform's data dir
(the catalog's own DDL), with a Stripe state as the sandbox reports it and a real nats-server
for the broker check. Each test breaks one thing and expects exactly that check to fail, with
the right lost / duplicated count, so a green fault scenario means the checks looked.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from sqlalchemy import create_engine

from acme.runtime.db import dead_letters, idempotent_ddl
from acme.runtime.embedded_nats import EmbeddedNats
from generated.datastores import (
    cart_database,
    checkout_database,
    inventory_database,
    order_database,
)
from tests.faults.invariants import Expectations, evaluate, hex_id

PRODUCT = uuid.uuid4().hex
WON, LOST = uuid.uuid4().hex, uuid.uuid4().hex  # a completed and a failed checkout
ORDER_WON, ORDER_LOST = uuid.uuid4().hex, uuid.uuid4().hex
NOW = datetime.now(UTC)
Stripe = dict[str, Any]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


def _db(data_dir: Path, store: str, ddl: tuple[str, ...]) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / f"{store}.sqlite3", isolation_level=None)
    for statement in ddl:
        conn.execute(idempotent_ddl(statement))
    return conn


def _ts(delta: timedelta = timedelta()) -> str:
    return (NOW + delta).isoformat(sep=" ")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Expectations, Stripe]:
    """Two checkouts of one product: one completed (2 units, 200 charged), one declined."""
    checkout = _db(tmp_path, "checkout-database", checkout_database.DDL)
    for checkout_id, order_id, status, reason in (
        (WON, ORDER_WON, "COMPLETED", None),
        (LOST, ORDER_LOST, "FAILED", "PAYMENT_DECLINED"),
    ):
        checkout.execute(
            "INSERT INTO checkouts (checkout_id, order_id, cart_id, customer_id, status, "
            "failure_reason, total_cents, currency, deadline_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                checkout_id,
                order_id,
                uuid.uuid4().hex,
                uuid.uuid4().hex,
                status,
                reason,
                200,
                "USD",
                _ts(),
            ),
        )
    checkout.execute(
        "INSERT INTO message_outbox (message_id, subject, message_type, headers, payload, "
        "created_at, published_at) VALUES ('m1', 's', 'checkout-completed', '{}', '{}', ?, ?)",
        (_ts(timedelta(minutes=-1)), _ts()),
    )
    orders = _db(tmp_path, "order-database", order_database.DDL)
    orders.execute(
        "INSERT INTO orders (order_id, checkout_id, customer_id, status, total_cents) "
        "VALUES (?, ?, ?, 'CONFIRMED', 200)",
        (ORDER_WON, WON, uuid.uuid4().hex),
    )
    orders.execute(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) "
        "VALUES (?, ?, 2, 100)",
        (ORDER_WON, PRODUCT),
    )
    stock = _db(tmp_path, "inventory-database", inventory_database.DDL)
    stock.execute(
        "INSERT INTO stock (product_id, available, reserved, sold, restocked) VALUES (?,3,0,2,5)",
        (PRODUCT,),
    )
    _db(tmp_path, "cart-database", cart_database.DDL)
    engine = create_engine(f"sqlite:///{tmp_path / 'runtime.sqlite3'}")
    dead_letters.metadata.create_all(engine)
    engine.dispose()
    stripe: Stripe = {
        "payment_intents": [
            {"id": "pi_won", "metadata": {"order_id": ORDER_WON, "payment_id": "pay_won"}}
        ],
        "counts": {"pi_won": {"captures": 1, "amount_captured": 200, "amount_refunded": 0}},
    }
    expect = Expectations(
        checkouts={WON, LOST}, products={PRODUCT: 5}, started_at=NOW - timedelta(minutes=5)
    )
    return tmp_path, expect, stripe


def _sql(data_dir: Path, store: str, sql: str, *params: object) -> None:
    conn = sqlite3.connect(data_dir / f"{store}.sqlite3", isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def _dead_letter(data_dir: Path, service: str, message_id: str) -> None:
    _sql(
        data_dir,
        "runtime",
        "INSERT INTO dead_letters (id, service, message_id, subject, message_type, headers, "
        "payload, reason, error, attempts, dead_at) VALUES (?,?,?,'s','t','{}','x','invalid',"
        "'bad',0,?)",
        str(uuid.uuid4()),
        service,
        message_id,
        _ts(),
    )


async def test_a_consistent_world_passes(
    world: tuple[Path, Expectations, Stripe], broker: str
) -> None:
    data_dir, expect, stripe = world
    verdict = await evaluate(data_dir, broker, stripe, expect)
    assert verdict.ok, verdict.explain()
    assert verdict.outcomes == {"COMPLETED": 1, "FAILED:PAYMENT_DECLINED": 1}


Damage = Callable[[Path, Expectations, Stripe], None]


def _standing_order_of_failed(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(
        d,
        "order-database",
        "INSERT INTO orders (order_id, checkout_id, customer_id, "
        "status, total_cents) VALUES (?, ?, 'c', 'CONFIRMED', 200)",
        ORDER_LOST,
        LOST,
    )


def _captured_twice(d: Path, e: Expectations, s: Stripe) -> None:
    s["counts"]["pi_won"]["captures"] = 2


def _failed_but_charged(d: Path, e: Expectations, s: Stripe) -> None:
    s["payment_intents"].append({"id": "pi_lost", "metadata": {"order_id": ORDER_LOST}})
    s["counts"]["pi_lost"] = {"captures": 1, "amount_captured": 200, "amount_refunded": 0}


def _charged_on_two_intents(d: Path, e: Expectations, s: Stripe) -> None:
    s["payment_intents"].append(
        {"id": "pi_again", "metadata": {"order_id": ORDER_WON, "payment_id": "pay_won"}}
    )
    s["counts"]["pi_again"] = {"captures": 1, "amount_captured": 200, "amount_refunded": 0}


def _sold_twice(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(d, "inventory-database", "UPDATE stock SET available = 1, sold = 4")


def _left_reserved(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(d, "inventory-database", "UPDATE stock SET available = 2, reserved = 1")


def _sold_lost(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(d, "inventory-database", "UPDATE stock SET available = 4, sold = 1")


def _unpublished(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(
        d,
        "checkout-database",
        "INSERT INTO message_outbox (message_id, subject, message_type, "
        "headers, payload, created_at) VALUES ('m2', 's', 't', '{}', '{}', ?)",
        _ts(timedelta(minutes=-1)),
    )


def _stuck_saga(d: Path, e: Expectations, s: Stripe) -> None:
    _sql(
        d,
        "checkout-database",
        "INSERT INTO checkouts (checkout_id, order_id, cart_id, "
        "customer_id, status, total_cents, currency, deadline_at) "
        "VALUES ('x', 'y', 'c', 'c', 'AUTHORIZING_PAYMENT', 1, 'USD', ?)",
        _ts(),
    )


def _never_opened(d: Path, e: Expectations, s: Stripe) -> None:
    e.checkouts.add(uuid.uuid4().hex)


def _committed_unanswered(d: Path, e: Expectations, s: Stripe) -> None:
    # the cart committed a checkout whose answer was lost; no session was ever opened for it
    cart = uuid.uuid4().hex
    _sql(
        d,
        "cart-database",
        "INSERT INTO carts (cart_id, customer_id, status, checkout_id) "
        "VALUES (?, 'c', 'CHECKING_OUT', ?)",
        cart,
        uuid.uuid4().hex,
    )
    e.carts.add(cart)


def _unexpected_dead_letter(d: Path, e: Expectations, s: Stripe) -> None:
    _dead_letter(d, "inventory-service", "m-unexpected")


def _expected_dead_letter_missing(d: Path, e: Expectations, s: Stripe) -> None:
    e.dead_letters.add(("inventory-service", "m-poison"))


@pytest.mark.parametrize(
    ("damage", "check", "lost", "duplicated"),
    [
        (_standing_order_of_failed, "outcome", 0, 1),
        (_captured_twice, "capture", 0, 1),
        (_failed_but_charged, "capture", 0, 0),
        (_charged_on_two_intents, "capture", 0, 1),
        (_sold_twice, "stock", 0, 2),
        (_left_reserved, "stock", 0, 0),
        (_sold_lost, "stock", 1, 0),
        (_unpublished, "outbox", 1, 0),
        (_stuck_saga, "sagas", 0, 0),
        (_never_opened, "outcome", 1, 0),
        (_committed_unanswered, "outcome", 1, 0),
        (_unexpected_dead_letter, "dlq", 0, 0),
        (_expected_dead_letter_missing, "dlq", 0, 0),
    ],
)
async def test_each_kind_of_damage_is_caught(
    world: tuple[Path, Expectations, Stripe],
    broker: str,
    damage: Damage,
    check: str,
    lost: int,
    duplicated: int,
) -> None:
    data_dir, expect, stripe = world
    damage(data_dir, expect, stripe)
    verdict = await evaluate(data_dir, broker, stripe, expect)
    assert not verdict.ok
    assert [c.name for c in verdict.failures()] == [check], verdict.explain()
    assert (verdict.lost, verdict.duplicated) == (lost, duplicated), verdict.explain()


async def test_an_expected_dead_letter_is_not_a_failure(
    world: tuple[Path, Expectations, Stripe], broker: str
) -> None:
    data_dir, expect, stripe = world
    _dead_letter(data_dir, "inventory-service", "m-poison")
    expect.dead_letters.add(("inventory-service", "m-poison"))
    verdict = await evaluate(data_dir, broker, stripe, expect)
    assert verdict.ok, verdict.explain()


async def test_an_unacknowledged_message_is_lost_until_acked(
    world: tuple[Path, Expectations, Stripe], broker: str
) -> None:
    data_dir, expect, stripe = world
    nc = await nats.connect(broker)
    try:
        js = nc.jetstream()
        stream = f"faults{uuid.uuid4().hex[:8]}"
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
        await js.add_consumer(
            stream, ConsumerConfig(durable_name="svc", ack_policy=AckPolicy.EXPLICIT)
        )
        await js.publish(f"{stream}.x", b"{}")
        undelivered = await evaluate(data_dir, broker, stripe, expect)
        assert [c.name for c in undelivered.failures()] == ["broker"]
        assert undelivered.lost == 1
        sub = await js.pull_subscribe(f"{stream}.x", durable="svc", stream=stream)
        [message] = await sub.fetch(1, timeout=5)
        unacked = await evaluate(data_dir, broker, stripe, expect)
        assert "1 unacked" in unacked.checks["broker"].detail
        await message.ack_sync()
        await asyncio.sleep(0.1)
        settled = await evaluate(data_dir, broker, stripe, expect)
        assert settled.ok, settled.explain()
        await js.delete_stream(stream)
    finally:
        await nc.close()


def test_ids_compare_in_any_form() -> None:
    value = uuid.uuid4()
    assert hex_id(str(value)) == hex_id(value.hex) == value.hex
