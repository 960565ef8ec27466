"""The checkout journey end to end, on the real processes: place-an-order and checkout-saga.

Each test drives the platform over HTTP through the gateway like a shopper would, then checks
the outcome twice: as the shopper sees it (HTTP) and as every data store involved holds it
(read-only SQLite connections to the files under the data dir), plus the Stripe sandbox's own
record of what was charged.
"""

from __future__ import annotations

import pytest

from acme.client import AcmeClient, ApiError
from benchmarks.embedded import RunningPlatform

from .helpers import (
    ADDRESS,
    E2E,
    ShopperSession,
    StripeSandbox,
    cart_status,
    checkout_cart,
    checkout_row,
    dead_letters_of,
    eventually,
    key,
    norm,
    orders_of,
    payments_of,
    reservations_of,
    rows,
    seed_product,
    stock_row,
)

pytestmark = E2E

# After create-order the order moves on by itself (CONFIRMED -> AWAITING_FULFILMENT, then
# the warehouse and carrier take it further), so "confirmed" is any status from there on.
CONFIRMED_OR_LATER = {"CONFIRMED", "AWAITING_FULFILMENT", "FULFILLING", "COMPLETED", "ON_HOLD"}


async def test_happy_path_confirms_the_order_and_charges_once(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=1250, stock=5)

    checkout, correlation_id = await checkout_cart(shopper, product_id, 2)

    # The shopper's view: checkout completed, order confirmed and readable.
    assert checkout.status == "COMPLETED", (checkout.failure_reason, checkout.failure_detail)
    assert checkout.failure_reason is None
    assert (checkout.total, checkout.currency) == (2500, "USD")
    order = await shopper.client.get_order(checkout.order_id)
    assert order.status in CONFIRMED_OR_LATER
    assert order.customer_id == shopper.customer_id
    assert order.checkout_id == checkout.checkout_id
    assert (order.total, order.currency) == (2500, "USD")
    assert order.confirmation_number is not None
    assert [(i.product_id, i.quantity, i.unit_price) for i in order.items or []] == [
        (product_id, 2, 1250)
    ]
    assert order.delivery_address is not None and order.delivery_address.city == ADDRESS.city
    mine = await shopper.client.list_orders()
    assert checkout.order_id in [o.order_id for o in mine.orders]

    # Checkout store: the saga finished every step.
    saga = checkout_row(platform, checkout.checkout_id)
    assert (saga["status"], saga["failure_reason"], saga["total_cents"]) == (
        "COMPLETED",
        None,
        2500,
    )
    assert saga["reservation_id"] is not None and saga["payment_id"] is not None
    with platform.store("checkout-database") as conn:
        steps = {
            r["step"]: r["status"]
            for r in rows(
                conn,
                f"SELECT step, status FROM saga_steps WHERE {norm('checkout_id')} = ?",
                key(checkout.checkout_id),
            )
        }
    assert steps == {
        "RESERVE_INVENTORY": "SUCCEEDED",
        "AUTHORIZE_PAYMENT": "SUCCEEDED",
        "CREATE_ORDER": "SUCCEEDED",
    }

    # Order store: one order, CONFIRMED on its way, its line, the number shown to the shopper.
    [stored] = orders_of(platform, checkout)
    assert stored["status"] in CONFIRMED_OR_LATER
    assert stored["confirmation_number"] == order.confirmation_number
    assert stored["total_cents"] == 2500
    with platform.store("order-database") as conn:
        history = [
            r["status"]
            for r in rows(
                conn,
                "SELECT status FROM order_status_history "
                f"WHERE {norm('order_id')} = ? AND entry_type = 'STATUS' ORDER BY sequence",
                key(checkout.order_id),
            )
        ]
        items = rows(
            conn,
            "SELECT quantity, unit_price_cents FROM order_items "
            f"WHERE {norm('order_id')} = ? AND {norm('product_id')} = ?",
            key(checkout.order_id),
            key(product_id),
        )
    assert history[:2] == ["CREATED", "CONFIRMED"], history
    assert items == [{"quantity": 2, "unit_price_cents": 1250}]

    # Inventory store: the hold was consumed by order-confirmed; two units sold, none held.
    async def stock_consumed() -> None:
        assert [r["status"] for r in reservations_of(platform, checkout.checkout_id)] == [
            "CONSUMED"
        ]
        level = stock_row(platform, product_id)
        assert (level["available"], level["reserved"], level["sold"]) == (3, 0, 2)

    await eventually(stock_consumed)
    level = await admin.get_stock(product_id)
    assert (level.available, level.reserved) == (3, 0)

    # Payment store and Stripe: one payment SUCCEEDED, one capture of the full amount.
    [payment] = payments_of(platform, checkout)
    assert (payment["status"], payment["amount_cents"]) == ("SUCCEEDED", 2500)
    assert key(payment["payment_id"]) == key(saga["payment_id"])
    intent_id = payment["processor_reference"]
    assert intent_id and intent_id.startswith("pi_")
    intent, counts = await stripe.intent(intent_id)
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 2500, "usd")
    assert (counts["captures"], counts["amount_captured"], counts["refunds"]) == (1, 2500, 0)
    seen = await shopper.client.get_payment(payment["payment_id"])
    assert (seen.status, seen.amount, seen.processor_reference) == ("SUCCEEDED", 2500, intent_id)

    # Cart store: closed for good.
    assert cart_status(platform, checkout.cart_id) == "CHECKED_OUT"
    assert dead_letters_of(platform, correlation_id) == []


async def test_declined_card_fails_the_checkout_and_releases_the_stock(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=990, stock=4)

    checkout, correlation_id = await checkout_cart(
        shopper, product_id, 3, payment_method="pm_card_chargeDeclined"
    )

    # The shopper sees why.
    assert checkout.status == "FAILED"
    assert checkout.failure_reason == "PAYMENT_DECLINED", checkout.failure_detail
    assert checkout.completed_at is not None
    seen = await shopper.client.get_checkout(checkout.checkout_id)
    assert (seen.status, seen.failure_reason) == ("FAILED", "PAYMENT_DECLINED")

    # No order, anywhere.
    with pytest.raises(ApiError) as missing:
        await shopper.client.get_order(checkout.order_id)
    assert missing.value.status == 404
    assert orders_of(platform, checkout) == []
    saga = checkout_row(platform, checkout.checkout_id)
    assert (saga["status"], saga["failure_reason"]) == ("FAILED", "PAYMENT_DECLINED")

    # The hold is released (compensation) and the stock is whole again.
    async def stock_released() -> None:
        held = reservations_of(platform, checkout.checkout_id)
        assert [(r["status"], r["release_reason"]) for r in held] == [
            ("RELEASED", "CHECKOUT_FAILED")
        ]
        level = stock_row(platform, product_id)
        assert (level["available"], level["reserved"], level["sold"]) == (4, 0, 0)

    await eventually(stock_released)
    level = await admin.get_stock(product_id)
    assert (level.available, level.reserved) == (4, 0)

    # The payment failed with the card's reason; Stripe captured nothing.
    [payment] = payments_of(platform, checkout)
    assert (payment["status"], payment["failure_reason"]) == ("FAILED", "CARD_DECLINED")
    if payment["processor_reference"]:
        intent, counts = await stripe.intent(payment["processor_reference"])
        assert intent["status"] != "succeeded"
        assert (counts["captures"], counts["amount_captured"]) == (0, 0)

    # The cart is reopened so the shopper can try another card.
    async def cart_reopened() -> None:
        assert cart_status(platform, checkout.cart_id) == "OPEN"

    await eventually(cart_reopened)
    assert (await shopper.client.get_cart(checkout.cart_id)).status == "OPEN"
    assert dead_letters_of(platform, correlation_id) == []


async def test_out_of_stock_fails_the_checkout_and_charges_nothing(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=4200, stock=1)
    intents_before = len((await stripe.state())["payment_intents"])

    checkout, correlation_id = await checkout_cart(shopper, product_id, 2)

    assert checkout.status == "FAILED"
    assert checkout.failure_reason == "OUT_OF_STOCK", checkout.failure_detail
    saga = checkout_row(platform, checkout.checkout_id)
    assert (saga["status"], saga["failure_reason"]) == ("FAILED", "OUT_OF_STOCK")
    with platform.store("checkout-database") as conn:
        steps = rows(
            conn,
            f"SELECT step FROM saga_steps WHERE {norm('checkout_id')} = ?",
            key(checkout.checkout_id),
        )
    assert "AUTHORIZE_PAYMENT" not in {s["step"] for s in steps}

    # Nothing held, nothing sold: the one unit is still free to sell.
    assert all(r["status"] != "HELD" for r in reservations_of(platform, checkout.checkout_id))
    level = stock_row(platform, product_id)
    assert (level["available"], level["reserved"], level["sold"]) == (1, 0, 0)
    http_level = await admin.get_stock(product_id)
    assert (http_level.available, http_level.reserved) == (1, 0)

    # Nothing charged: no payment recorded, no PaymentIntent created at Stripe.
    assert payments_of(platform, checkout) == []
    assert len((await stripe.state())["payment_intents"]) == intents_before

    # No order.
    with pytest.raises(ApiError) as missing:
        await shopper.client.get_order(checkout.order_id)
    assert missing.value.status == 404
    assert orders_of(platform, checkout) == []

    async def cart_reopened() -> None:
        assert cart_status(platform, checkout.cart_id) == "OPEN"

    await eventually(cart_reopened)
    assert dead_letters_of(platform, correlation_id) == []
