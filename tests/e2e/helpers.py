"""Helpers of the end-to-end tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from acme.client import AcmeClient, DeliveryAddress, Shopper
from acme.simulators.carrier.domain import Fate, Odds, decide
from benchmarks.embedded import RunningPlatform, StoreReader
from generated.messages.get_checkout import GetCheckoutResponse

T = TypeVar("T")

# Every test module here starts with this line: the e2e marker, and the session's loop.
E2E = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# The carrier simulator of the session (env ACME_CARRIER_*): seeded, quick, and failing half of
# the deliveries, always as FAILED_DELIVERY. Seeded, a shipment's fate depends only on its id,
# so a test can tell what will happen to a parcel as soon as the shipment exists (`fate_of`).
# The parcel is created 1 s after booking and delivered (or not) 2 s later: an order stays
# FULFILLING for 3 s at least, long enough to try to cancel it there.
CARRIER_SEED = 6
CARRIER_FAILURE_RATE = 0.5
CARRIER_FAILURE_REASON = "FAILED_DELIVERY"
CARRIER_ENV = {
    "ACME_CARRIER_SEED": str(CARRIER_SEED),
    "ACME_CARRIER_FAILURE_RATE": str(CARRIER_FAILURE_RATE),
    "ACME_CARRIER_FAILURE_REASONS": CARRIER_FAILURE_REASON,
    "ACME_CARRIER_CREATED_DELAY": "1.0",
    "ACME_CARRIER_DELIVERY_DELAY": "2.0",
    "ACME_CARRIER_POLL_INTERVAL": "0.2",
}


def fate_of(shipment_id: uuid.UUID | str) -> Fate:
    """What the session's carrier does with this shipment (the simulator's own dice)."""
    odds = Odds(CARRIER_FAILURE_RATE, 0.0, (CARRIER_FAILURE_REASON,), CARRIER_SEED)
    return decide(uuid.UUID(str(shipment_id)), odds)


@dataclass(frozen=True)
class ShopperSession:
    shopper: Shopper
    client: AcmeClient

    @property
    def customer_id(self) -> uuid.UUID:
        return self.shopper.customer_id


async def register_shopper(acme: AcmeClient, name: str = "E2E") -> ShopperSession:
    """A freshly registered, signed-in shopper."""
    tag = uuid.uuid4().hex[:12]
    registered = await acme.register_shopper(f"shopper-{tag}@example.com", f"pw-{tag}", name)
    return ShopperSession(registered, acme.as_user(registered.token))


@dataclass(frozen=True)
class StripeSandbox:
    """The Stripe sandbox's own view (`/_sandbox/state`), read directly, not via the gateway."""

    url: str

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as http:
            response = await http.get("/_sandbox/state")
            response.raise_for_status()
            state: dict[str, Any] = response.json()
            return state

    async def intent(self, intent_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PaymentIntent and its counters (charges, captures, refunds, amounts)."""
        state = await self.state()
        for intent in state["payment_intents"]:
            if intent["id"] == intent_id:
                return intent, state["counts"][intent_id]
        raise AssertionError(f"the Stripe sandbox has no PaymentIntent {intent_id}")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Retry an async check (it raises AssertionError until the state has settled).

    The platform is eventually consistent: a store that an event updates is right a moment
    after the HTTP answer. This waits for that moment; it does not measure it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)


ADDRESS = DeliveryAddress(
    recipient_name="E2E Shopper",
    line1="1 Test Street",
    city="Springfield",
    postal_code="12345",
    country_code="US",
)


async def seed_product(admin: AcmeClient, *, price: int, stock: int) -> uuid.UUID:
    """An ACTIVE product with `stock` units available (as staff)."""
    tag = uuid.uuid4().hex[:10].upper()
    product = await admin.create_product(sku=f"E2E-{tag}", name=f"E2E product {tag}", price=price)
    assert product.product_id is not None
    level = await admin.set_stock(product.product_id, stock)
    assert (level.available, level.reserved) == (stock, 0)
    return product.product_id


def rows(conn: StoreReader, sql: str, *params: object) -> list[dict[str, Any]]:
    """Rows of a read-only query on a store (SQLite or PostgreSQL); `?` marks parameters."""
    parts = sql.split("?")
    if len(parts) - 1 != len(params):
        raise ValueError(f"{len(parts) - 1} placeholders but {len(params)} parameters in {sql}")
    named = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
    return conn.rows(named, **{f"p{i}": value for i, value in enumerate(params)})


def one(conn: StoreReader, sql: str, *params: object) -> dict[str, Any]:
    found = rows(conn, sql, *params)
    assert len(found) == 1, f"expected one row for {sql} {params}, found {found}"
    return found[0]


def dead_letters_of(platform: RunningPlatform, correlation_id: str) -> list[dict[str, Any]]:
    """Dead letters (every service's, in the runtime store) caused by one correlation id."""
    if not platform.store_exists("runtime"):
        return []
    with platform.store("runtime") as conn:
        letters = rows(conn, "SELECT service, message_type, error, headers FROM dead_letters")
    return [x for x in letters if json.loads(x["headers"]).get("correlation-id") == correlation_id]


# How long a checkout may take to reach COMPLETED or FAILED on a loaded machine.
SAGA_TIMEOUT = 60.0


def key(value: uuid.UUID | str) -> str:
    """The hex form of a UUID; stores compare through `norm(column)`, whatever form they keep."""
    return uuid.UUID(str(value)).hex


def norm(column: str) -> str:
    # Stores may keep UUIDs as 32 hex digits (SQLAlchemy's Uuid on SQLite), with dashes, or as
    # a native uuid (PostgreSQL): compared as text without dashes, they all read the same.
    return f"lower(replace(CAST({column} AS TEXT), '-', ''))"


async def checkout_cart(
    shopper: ShopperSession,
    product_id: uuid.UUID,
    quantity: int,
    *,
    payment_method: str = "pm_card_visa",
) -> tuple[GetCheckoutResponse, str]:
    """Cart with one line, checked out; returns the terminal checkout and its correlation id."""
    me = shopper.client
    cart = await me.create_cart(shopper.customer_id)
    cart = await me.add_item(cart.cart_id, product_id, quantity, wait=15.0)
    assert [(i.product_id, i.quantity) for i in cart.items] == [(product_id, quantity)]
    correlation_id = str(uuid.uuid4())
    started = await me.checkout(
        cart.cart_id,
        shopper.customer_id,
        payment_method=payment_method,
        delivery_address=ADDRESS,
        correlation_id=correlation_id,
    )
    assert started.checkout_id is not None, "the checkout answer names no checkoutId"
    assert started.status in ("CHECKING_OUT", "CHECKED_OUT", "OPEN")
    checkout = await me.wait_for_checkout(started.checkout_id, timeout=SAGA_TIMEOUT)
    assert checkout.cart_id == cart.cart_id
    assert checkout.customer_id == shopper.customer_id
    return checkout, correlation_id


def stock_row(platform: RunningPlatform, product_id: uuid.UUID) -> dict[str, Any]:
    with platform.store("inventory-database") as conn:
        return one(
            conn,
            "SELECT available, reserved, sold, restocked FROM stock "
            f"WHERE {norm('product_id')} = ?",
            key(product_id),
        )


def reservations_of(platform: RunningPlatform, checkout_id: uuid.UUID) -> list[dict[str, Any]]:
    with platform.store("inventory-database") as conn:
        return rows(
            conn,
            "SELECT reservation_id, status, release_reason FROM reservations "
            f"WHERE {norm('checkout_id')} = ?",
            key(checkout_id),
        )


def payments_of(platform: RunningPlatform, checkout: GetCheckoutResponse) -> list[dict[str, Any]]:
    with platform.store("payment-database") as conn:
        return rows(
            conn,
            "SELECT payment_id, status, amount_cents, currency, processor_reference, "
            "failure_reason FROM payments "
            f"WHERE {norm('order_id')} = ? OR {norm('checkout_id')} = ?",
            key(checkout.order_id),
            key(checkout.checkout_id),
        )


def orders_of(platform: RunningPlatform, checkout: GetCheckoutResponse) -> list[dict[str, Any]]:
    with platform.store("order-database") as conn:
        return rows(
            conn,
            f"SELECT * FROM orders WHERE {norm('order_id')} = ? OR {norm('checkout_id')} = ?",
            key(checkout.order_id),
            key(checkout.checkout_id),
        )


def checkout_row(platform: RunningPlatform, checkout_id: uuid.UUID) -> dict[str, Any]:
    with platform.store("checkout-database") as conn:
        return one(
            conn,
            "SELECT status, failure_reason, total_cents, currency, reservation_id, payment_id "
            f"FROM checkouts WHERE {norm('checkout_id')} = ?",
            key(checkout_id),
        )


def cart_status(platform: RunningPlatform, cart_id: uuid.UUID) -> str:
    with platform.store("cart-database") as conn:
        row = one(conn, f"SELECT status FROM carts WHERE {norm('cart_id')} = ?", key(cart_id))
    return str(row["status"])


def order_row(platform: RunningPlatform, order_id: uuid.UUID) -> dict[str, Any]:
    with platform.store("order-database") as conn:
        return one(conn, f"SELECT * FROM orders WHERE {norm('order_id')} = ?", key(order_id))


def order_statuses(platform: RunningPlatform, order_id: uuid.UUID) -> list[str]:
    """The order's status history, in order (status entries only)."""
    with platform.store("order-database") as conn:
        found = rows(
            conn,
            "SELECT status FROM order_status_history "
            f"WHERE {norm('order_id')} = ? AND entry_type = 'STATUS' ORDER BY sequence",
            key(order_id),
        )
    return [str(r["status"]) for r in found]


def picking_job(platform: RunningPlatform, order_id: uuid.UUID) -> dict[str, Any]:
    with platform.store("warehouse-database") as conn:
        return one(conn, f"SELECT * FROM picking_jobs WHERE {norm('order_id')} = ?", key(order_id))


def shipments_of(platform: RunningPlatform, order_id: uuid.UUID) -> list[dict[str, Any]]:
    with platform.store("shipping-database") as conn:
        return rows(conn, f"SELECT * FROM shipments WHERE {norm('order_id')} = ?", key(order_id))


def carrier_booking(platform: RunningPlatform, shipment_id: uuid.UUID | str) -> dict[str, Any]:
    """The carrier simulator's own record of a booking (its store, not Acme's)."""
    with platform.store("runtime-carrier") as conn:
        return one(
            conn,
            f"SELECT * FROM carrier_bookings WHERE {norm('shipment_id')} = ?",
            key(shipment_id),
        )


def unpublished_outbox(platform: RunningPlatform, store: str, needle: str) -> list[dict[str, Any]]:
    """Outbox rows of `store` whose payload mentions `needle` and that are not published yet."""
    with platform.store(store) as conn:
        return rows(
            conn,
            "SELECT message_type, created_at FROM message_outbox "
            "WHERE published_at IS NULL AND payload LIKE ?",
            f"%{needle}%",
        )


def outbox_types(platform: RunningPlatform, store: str, needle: str) -> list[str]:
    """Message types staged in `store`'s outbox whose payload mentions `needle`, oldest first."""
    with platform.store(store) as conn:
        found = rows(
            conn,
            "SELECT message_type FROM message_outbox WHERE payload LIKE ? "
            "ORDER BY created_at, message_id",
            f"%{needle}%",
        )
    return [str(r["message_type"]) for r in found]
