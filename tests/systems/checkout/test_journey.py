"""The four Ordering/Shopping systems together on one broker: cart, promotion, checkout and
order management, with stock and payment answered by the test. This checks that what each of
them publishes is what the others accept (the full platform journey is the lead's e2e test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.systems.harness import SystemHarness, running_system


@dataclass
class Platform:
    cart: SystemHarness
    promotion: SystemHarness
    checkout: SystemHarness
    orders: SystemHarness


@pytest.fixture
async def platform(tmp_path: Path, nats_url: str) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        systems = {}
        for host in (
            "cart-system",
            "promotion-system",
            "checkout-system",
            "order-management-system",
        ):
            systems[host] = await stack.enter_async_context(
                running_system(host, data_dir=tmp_path / host, nats_url=nats_url)
            )
        yield Platform(
            systems["cart-system"],
            systems["promotion-system"],
            systems["checkout-system"],
            systems["order-management-system"],
        )


async def eventually(probe: Any, timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := await probe()):
            await asyncio.sleep(0.05)
    return value


async def shop(p: Platform, customer: str, code: str | None) -> dict[str, Any]:
    """Wait for the seed promotions, price a product, fill a cart and check it out."""
    await eventually(lambda: p.promotion.rows("promotion-database", "SELECT 1 FROM promotions"))
    product = str(uuid.uuid4())
    await p.cart.deliver(
        "product-created",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": datetime.now(UTC).isoformat(),
            "product": {
                "productId": product,
                "sku": "LAMP-1",
                "name": "Lamp",
                "price": 4000,
                "currency": "USD",
                "status": "ACTIVE",
            },
        },
    )
    await eventually(
        lambda: p.cart.rows(
            "cart-database",
            "SELECT 1 FROM product_prices WHERE product_id = :p",
            p=uuid.UUID(product).hex,
        )
    )
    auth = p.cart.auth(customer)
    cart = (await p.cart.client.post("/carts", json={"customerId": customer}, headers=auth)).json()
    added = await p.cart.client.post(
        f"/carts/{cart['cartId']}/items",
        json={"cartId": cart["cartId"], "productId": product, "quantity": 2},
        headers=auth,
    )
    assert added.status_code == 200
    body: dict[str, Any] = {
        "cartId": cart["cartId"],
        "customerId": customer,
        "deliveryAddress": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postalCode": "12345",
            "countryCode": "US",
        },
    }
    if code:
        body["promotionCode"] = code
    checked_out = await p.cart.client.post(
        f"/carts/{cart['cartId']}/checkout", json=body, headers=auth
    )
    assert checked_out.status_code == 200, checked_out.text
    result: dict[str, Any] = checked_out.json()
    return result


async def cart_status(p: Platform, cart: dict[str, Any], customer: str, status: str) -> None:
    async def probe() -> bool:
        got = await p.cart.client.get(f"/carts/{cart['cartId']}", headers=p.cart.auth(customer))
        return bool(got.json()["status"] == status)

    await eventually(probe)


async def test_checkout_journey_to_a_confirmed_order(platform: Platform) -> None:
    p = platform
    customer = str(uuid.uuid4())
    cart = await shop(p, customer, "welcome10")
    assert (cart["subtotal"], cart["discount"], cart["total"]) == (8000, 800, 7200)
    checkout_id = cart["checkoutId"]
    # Stock service: hold everything.
    [reserve] = await p.checkout.published(
        "reserve-inventory", where=lambda b: b["checkoutId"] == checkout_id
    )
    order_id = reserve.body["orderId"]
    reservation = str(uuid.uuid4())
    await p.checkout.deliver(
        "inventory-reserved",
        {
            "reservationId": reservation,
            "orderId": order_id,
            "checkoutId": checkout_id,
            "cartId": cart["cartId"],
            "items": reserve.body["items"],
            "reservedAt": datetime.now(UTC).isoformat(),
        },
    )
    # Payment service: authorize the amount asked for.
    [pay] = await p.checkout.published(
        "authorize-payment", where=lambda b: b["checkoutId"] == checkout_id
    )
    assert pay.body["amount"] == 7200
    await p.checkout.deliver(
        "payment-authorized",
        {
            "paymentId": str(uuid.uuid4()),
            "orderId": order_id,
            "checkoutId": checkout_id,
            "amount": 7200,
            "currency": "USD",
            "processorReference": "pi_test",
            "authorizedAt": datetime.now(UTC).isoformat(),
        },
    )
    # From here the systems talk among themselves: create-order -> order-created ->
    # checkout-completed -> the cart is closed.
    view = p.checkout.auth(customer)

    async def completed() -> dict[str, Any] | None:
        got = await p.checkout.client.get(f"/checkouts/{checkout_id}", headers=view)
        body: dict[str, Any] = got.json()
        return body if got.status_code == 200 and body["status"] == "COMPLETED" else None

    await eventually(completed)
    await cart_status(p, cart, customer, "CHECKED_OUT")
    order = await p.orders.client.get(f"/orders/{order_id}", headers=p.orders.auth(customer))
    assert order.status_code == 200
    body = order.json()
    assert body["status"] == "AWAITING_FULFILMENT"
    assert body["total"] == 7200 and body["checkoutId"] == checkout_id
    assert body["confirmationNumber"] == "ORD-00000001"
    assert [(i["sku"], i["quantity"], i["unitPrice"]) for i in body["items"]] == [
        ("LAMP-1", 2, 4000)
    ]
    assert body["deliveryAddress"]["postalCode"] == "12345"
    # The discount's durable record reached the cart too.
    cart_view = await p.cart.client.get(f"/carts/{cart['cartId']}", headers=p.cart.auth(customer))
    assert cart_view.json()["appliedPromotions"] == ["WELCOME10"]


async def test_declined_payment_reopens_the_cart_with_the_reason(platform: Platform) -> None:
    p = platform
    customer = str(uuid.uuid4())
    cart = await shop(p, customer, None)
    checkout_id = cart["checkoutId"]
    [reserve] = await p.checkout.published(
        "reserve-inventory", where=lambda b: b["checkoutId"] == checkout_id
    )
    order_id = reserve.body["orderId"]
    await p.checkout.deliver(
        "inventory-reserved",
        {
            "reservationId": str(uuid.uuid4()),
            "orderId": order_id,
            "checkoutId": checkout_id,
            "items": reserve.body["items"],
            "reservedAt": datetime.now(UTC).isoformat(),
        },
    )
    await p.checkout.published("authorize-payment", where=lambda b: b["checkoutId"] == checkout_id)
    await p.checkout.deliver(
        "payment-declined",
        {
            "paymentId": str(uuid.uuid4()),
            "orderId": order_id,
            "checkoutId": checkout_id,
            "reason": "INSUFFICIENT_FUNDS",
            "declinedAt": datetime.now(UTC).isoformat(),
        },
    )
    await cart_status(p, cart, customer, "OPEN")
    got = await p.checkout.client.get(
        f"/checkouts/{checkout_id}", headers=p.checkout.auth(customer)
    )
    assert got.json()["status"] == "FAILED"
    assert got.json()["failureReason"] == "PAYMENT_DECLINED"
    assert "INSUFFICIENT_FUNDS" in got.json()["failureDetail"]
    missing = await p.orders.client.get(f"/orders/{order_id}", headers=p.orders.auth(admin=True))
    assert missing.status_code == 404
