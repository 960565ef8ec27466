"""cart-api in-process on a real NATS: every HTTP operation and every message it receives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from generated.messages.calculate_discount import CalculateDiscountResponse
from generated.services.cart_api import SEND_CALCULATE_DISCOUNT
from tests.systems.harness import SystemHarness, running_system

DB = "cart-database"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def hexid(value: str) -> str:
    """UUIDs as SQLite stores them (32 hex digits), for raw-SQL assertions."""
    return uuid.UUID(value).hex


@pytest.fixture
async def h(tmp_path: Path, nats_url: str) -> AsyncIterator[SystemHarness]:
    async with running_system(
        "cart-system", data_dir=tmp_path / "data", nats_url=nats_url
    ) as harness:
        yield harness


async def until(probe: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := await probe()):
            await asyncio.sleep(0.03)
    return value


async def product(
    h: SystemHarness,
    *,
    price: int = 1000,
    currency: str = "USD",
    status: str = "ACTIVE",
    sku: str | None = "SKU-1",
    at: datetime = T0,
) -> str:
    product_id = str(uuid.uuid4())
    body: dict[str, Any] = {"productId": product_id, "price": price, "currency": currency}
    body.update({"status": status, "name": f"Product {price}"})
    if sku:
        body["sku"] = sku
    await h.deliver(
        "product-created",
        {"eventId": str(uuid.uuid4()), "occurredAt": at.isoformat(), "product": body},
    )
    await price_row(h, product_id)
    return product_id


async def price_row(h: SystemHarness, product_id: str, **expected: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        rows = await h.rows(
            DB, "SELECT * FROM product_prices WHERE product_id = :p", p=hexid(product_id)
        )
        if rows and all(rows[0][k] == v for k, v in expected.items()):
            return rows[0]
        return None

    row: dict[str, Any] = await until(probe)
    return row


async def new_cart(h: SystemHarness, customer: str, currency: str = "USD") -> dict[str, Any]:
    response = await h.client.post(
        "/carts", json={"customerId": customer, "currency": currency}, headers=h.auth(customer)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add(
    h: SystemHarness, cart: str, product_id: str, customer: str, quantity: int = 1
) -> httpx.Response:
    return await h.client.post(
        f"/carts/{cart}/items",
        json={"cartId": cart, "productId": product_id, "quantity": quantity},
        headers=h.auth(customer),
    )


async def promotions(h: SystemHarness, discount: int, applied: list[str]) -> list[dict[str, Any]]:
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> CalculateDiscountResponse:
        asked.append(request)
        return CalculateDiscountResponse(discount=discount, applied_promotions=applied)

    await h.respond(SEND_CALCULATE_DISCOUNT.channel.address, answer)
    return asked


# -- create / get -------------------------------------------------------------------------


async def test_create_and_get_cart(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    cart = await new_cart(h, customer, "EUR")
    assert cart["status"] == "OPEN"
    assert cart["currency"] == "EUR"
    assert cart["customerId"] == customer
    assert (cart["items"], cart["subtotal"], cart["total"], cart["appliedPromotions"]) == (
        [],
        0,
        0,
        [],
    )
    got = await h.client.get(f"/carts/{cart['cartId']}", headers=h.auth(customer))
    assert got.status_code == 200
    assert got.json()["cartId"] == cart["cartId"]
    admin = await h.client.get(f"/carts/{cart['cartId']}", headers=h.auth(admin=True))
    assert admin.status_code == 200


async def test_create_cart_defaults_to_usd(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    response = await h.client.post(
        "/carts", json={"customerId": customer}, headers=h.auth(customer)
    )
    assert response.status_code == 201
    assert response.json()["currency"] == "USD"


async def test_create_cart_errors(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    no_token = await h.client.post("/carts", json={"customerId": customer})
    assert no_token.status_code == 401
    other = await h.client.post(
        "/carts", json={"customerId": customer}, headers=h.auth(str(uuid.uuid4()))
    )
    assert other.status_code == 403
    bad = await h.client.post(
        "/carts", json={"customerId": customer, "currency": "usd"}, headers=h.auth(customer)
    )
    assert bad.status_code == 422
    staff = await h.client.post("/carts", json={"customerId": customer}, headers=h.auth(admin=True))
    assert staff.status_code == 201
    assert staff.json()["customerId"] == customer


async def test_get_cart_errors(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    cart = await new_cart(h, customer)
    assert (
        await h.client.get(f"/carts/{uuid.uuid4()}", headers=h.auth(customer))
    ).status_code == 404
    other = await h.client.get(f"/carts/{cart['cartId']}", headers=h.auth(str(uuid.uuid4())))
    assert other.status_code == 403
    assert (await h.client.get("/carts/not-a-uuid", headers=h.auth(customer))).status_code == 422
    assert (await h.client.get(f"/carts/{cart['cartId']}")).status_code == 401


# -- add / remove -------------------------------------------------------------------------


async def test_add_items_prices_from_the_local_price_list(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    mug = await product(h, price=1250, sku="MUG")
    tea = await product(h, price=399, sku="TEA")
    cart = (await new_cart(h, customer))["cartId"]
    assert (await add(h, cart, mug, customer, 2)).status_code == 200
    assert (await add(h, cart, tea, customer)).status_code == 200
    response = await add(h, cart, mug, customer, 1)
    assert response.status_code == 200
    body = response.json()
    assert [(i["sku"], i["quantity"], i["unitPrice"], i["lineTotal"]) for i in body["items"]] == [
        ("MUG", 3, 1250, 3750),
        ("TEA", 1, 399, 399),
    ]
    assert (body["subtotal"], body["discount"], body["total"]) == (4149, 0, 4149)
    assert body["items"][0]["name"] == "Product 1250"


async def test_add_item_errors(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    cart = (await new_cart(h, customer))["cartId"]
    active = await product(h)
    archived = await product(h, status="ARCHIVED")
    euro = await product(h, currency="EUR")
    mismatch = await h.client.post(
        f"/carts/{cart}/items",
        json={"cartId": str(uuid.uuid4()), "productId": active, "quantity": 1},
        headers=h.auth(customer),
    )
    assert mismatch.status_code == 400
    unknown_product = await add(h, cart, str(uuid.uuid4()), customer)
    assert unknown_product.status_code == 404
    assert "price list" in unknown_product.json()["detail"]
    unknown_cart = await add(h, str(uuid.uuid4()), active, customer)
    assert unknown_cart.status_code == 404
    assert (await add(h, cart, archived, customer)).status_code == 409
    in_euro = await add(h, cart, euro, customer)
    assert in_euro.status_code == 409
    assert "EUR" in in_euro.json()["detail"]
    assert (await add(h, cart, active, str(uuid.uuid4()))).status_code == 403
    assert (await add(h, cart, active, customer, 0)).status_code == 422
    assert (await add(h, cart, active, customer, 10_001)).status_code == 409
    untouched = await h.client.get(f"/carts/{cart}", headers=h.auth(customer))
    assert untouched.json()["items"] == []


async def test_remove_some_units_then_the_line(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    item = await product(h, price=100)
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer, 5)
    partial = await h.client.delete(
        f"/carts/{cart}/items/{item}", params={"quantity": 2}, headers=h.auth(customer)
    )
    assert partial.status_code == 200
    assert partial.json()["items"][0]["quantity"] == 3
    assert partial.json()["total"] == 300
    whole = await h.client.delete(f"/carts/{cart}/items/{item}", headers=h.auth(customer))
    assert whole.status_code == 200
    assert whole.json()["items"] == []
    again = await h.client.delete(f"/carts/{cart}/items/{item}", headers=h.auth(customer))
    assert again.status_code == 404


async def test_remove_item_errors(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    item = await product(h)
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer)
    path = f"/carts/{cart}/items/{item}"
    assert (await h.client.delete(path, headers=h.auth(str(uuid.uuid4())))).status_code == 403
    assert (
        await h.client.delete(path, params={"quantity": 0}, headers=h.auth(customer))
    ).status_code == 422
    assert (await h.client.delete(path)).status_code == 401
    unknown = await h.client.delete(f"/carts/{uuid.uuid4()}/items/{item}", headers=h.auth(customer))
    assert unknown.status_code == 404


# -- checkout -------------------------------------------------------------------------------


ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "countryCode": "US"}


async def checkout(h: SystemHarness, cart: str, customer: str, **extra: Any) -> httpx.Response:
    """POST /carts/{cart}/checkout with a delivery address unless `extra` replaces it."""
    return await h.client.post(
        f"/carts/{cart}/checkout",
        json={"cartId": cart, "customerId": customer, "deliveryAddress": ADDRESS, **extra},
        headers=h.auth(customer),
    )


async def test_checkout_applies_the_discount_freezes_and_publishes(h: SystemHarness) -> None:
    asked = await promotions(h, 300, ["WELCOME10"])
    customer = str(uuid.uuid4())
    item = await product(h, price=1500, sku="BOOK")
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer, 2)
    address = {
        "line1": "1 Main St",
        "city": "Springfield",
        "postalCode": "12345",
        "countryCode": "US",
    }
    response = await checkout(
        h,
        cart,
        customer,
        promotionCode="welcome10",
        paymentMethod="pm_card_chargeDeclined",
        deliveryAddress=address,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "CHECKING_OUT"
    assert (body["subtotal"], body["discount"], body["total"]) == (3000, 300, 2700)
    assert body["appliedPromotions"] == ["WELCOME10"]
    assert body["promotionCode"] == "welcome10"
    checkout_id = body["checkoutId"]
    assert asked[0]["cartId"] == cart and asked[0]["subtotal"] == 3000
    assert asked[0]["promotionCode"] == "welcome10" and asked[0]["currency"] == "USD"
    [event] = await h.published("cart-checked-out", where=lambda b: b["cartId"] == cart)
    assert event.subject == "shopping.events.cart-checked-out"
    assert event.body["eventId"] == checkout_id
    assert event.body["customerId"] == customer
    assert event.body["items"] == [
        {"productId": item, "quantity": 2, "unitPrice": 1500, "sku": "BOOK"}
    ]
    assert (event.body["subtotal"], event.body["discount"], event.body["total"]) == (
        3000,
        300,
        2700,
    )
    assert event.body["paymentMethod"] == "pm_card_chargeDeclined"
    # The runtime writes absent optional fields as null; compare what was given.
    sent = {k: v for k, v in event.body["deliveryAddress"].items() if v is not None}
    assert sent == address
    # Frozen: no more changes, and a second checkout (a double click) is refused.
    assert (await add(h, cart, item, customer)).status_code == 409
    second = await checkout(h, cart, customer)
    assert second.status_code == 409
    await h.quiet(0.3)
    assert len(h.seen("cart-checked-out")) == 1


async def test_checkout_reprices_lines_at_todays_price(h: SystemHarness) -> None:
    await promotions(h, 0, [])
    customer = str(uuid.uuid4())
    item = await product(h, price=1000)
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer)
    await h.deliver(
        "product-updated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(hours=1)).isoformat(),
            "productId": item,
            "changes": {"price": 800},
        },
    )
    await price_row(h, item, price_cents=800)
    response = await checkout(h, cart, customer)
    assert response.status_code == 200
    assert response.json()["items"][0]["unitPrice"] == 800
    [event] = await h.published("cart-checked-out", where=lambda b: b["cartId"] == cart)
    assert event.body["total"] == 800
    assert event.body["paymentMethod"] == "pm_card_visa"


async def test_checkout_without_promotion_service_goes_on_at_full_price(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    item = await product(h, price=700)
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer)
    response = await checkout(h, cart, customer, promotionCode="WELCOME10")
    assert response.status_code == 200
    assert (response.json()["discount"], response.json()["total"]) == (0, 700)
    [event] = await h.published("cart-checked-out", where=lambda b: b["cartId"] == cart)
    assert event.body["discount"] == 0 and event.body["total"] == 700


async def test_checkout_conflicts(h: SystemHarness) -> None:
    await promotions(h, 0, [])
    customer = str(uuid.uuid4())
    cart = (await new_cart(h, customer))["cartId"]
    empty = await checkout(h, cart, customer)
    assert empty.status_code == 409
    assert "empty" in empty.json()["detail"]
    item = await product(h)
    await add(h, cart, item, customer)
    await h.deliver(
        "product-updated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(hours=1)).isoformat(),
            "productId": item,
            "changes": {"status": "ARCHIVED"},
        },
    )
    await price_row(h, item, status="ARCHIVED")
    unsellable = await checkout(h, cart, customer)
    assert unsellable.status_code == 409
    assert item in unsellable.json()["detail"]
    assert h.seen("cart-checked-out") == []


async def test_checkout_request_errors(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    cart = (await new_cart(h, customer))["cartId"]
    item = await product(h)
    await add(h, cart, item, customer)
    mismatch = await h.client.post(
        f"/carts/{cart}/checkout",
        json={"cartId": str(uuid.uuid4()), "customerId": customer, "deliveryAddress": ADDRESS},
        headers=h.auth(customer),
    )
    assert mismatch.status_code == 400
    stranger = str(uuid.uuid4())
    not_owner = await h.client.post(
        f"/carts/{cart}/checkout",
        json={"cartId": cart, "customerId": stranger, "deliveryAddress": ADDRESS},
        headers=h.auth(stranger),
    )
    assert not_owner.status_code == 403
    # Staff may act on a cart, but only for the customer who owns it.
    wrong_customer = await h.client.post(
        f"/carts/{cart}/checkout",
        json={"cartId": cart, "customerId": stranger, "deliveryAddress": ADDRESS},
        headers=h.auth(admin=True),
    )
    assert wrong_customer.status_code == 403
    bad_method = await checkout(h, cart, customer, paymentMethod="visa")
    assert bad_method.status_code == 422
    unknown = await h.client.post(
        f"/carts/{uuid.uuid4()}/checkout",
        json={"cartId": str(uuid.uuid4()), "customerId": customer, "deliveryAddress": ADDRESS},
        headers=h.auth(customer),
    )
    assert unknown.status_code in (400, 404)
    assert h.seen("cart-checked-out") == []


async def test_checkout_without_a_usable_delivery_address_is_refused(h: SystemHarness) -> None:
    """checkout-cart 2.0.0: the address is required, so that no paid order reaches a warehouse
    that cannot ship it; the shopper learns which field to fix, and nothing is frozen."""
    customer = str(uuid.uuid4())
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, await product(h), customer)

    missing = await h.client.post(
        f"/carts/{cart}/checkout",
        json={"cartId": cart, "customerId": customer},
        headers=h.auth(customer),
    )
    no_city = await checkout(
        h, cart, customer, deliveryAddress={k: v for k, v in ADDRESS.items() if k != "city"}
    )
    blank_line = await checkout(h, cart, customer, deliveryAddress={**ADDRESS, "line1": ""})

    for response, field in (
        (missing, "deliveryAddress"),
        (no_city, "deliveryAddress.city"),
        (blank_line, "deliveryAddress.line1"),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        locations = [e["location"] for e in response.json()["errors"]]
        assert any(loc.endswith(field) for loc in locations), (field, locations)
    assert (await h.client.get(f"/carts/{cart}", headers=h.auth(customer))).json()[
        "status"
    ] == "OPEN"
    await h.quiet(0.3)
    assert h.seen("cart-checked-out") == []
    # With an address the same cart checks out.
    assert (await checkout(h, cart, customer)).status_code == 200


# -- messages -------------------------------------------------------------------------------


async def test_product_events_maintain_the_price_list(h: SystemHarness) -> None:
    item = await product(h, price=1000, sku="S-1")
    await h.deliver(
        "product-updated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(minutes=5)).isoformat(),
            "productId": item,
            "changes": {"price": 900, "name": "Renamed"},
        },
    )
    row = await price_row(h, item, price_cents=900)
    assert (row["name"], row["sku"], row["currency"], row["status"]) == (
        "Renamed",
        "S-1",
        "USD",
        "ACTIVE",
    )
    # An older update (out of order) changes nothing.
    await h.deliver(
        "product-updated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(minutes=1)).isoformat(),
            "productId": item,
            "changes": {"price": 1},
        },
    )
    await h.deliver(
        "product-deleted",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(minutes=10)).isoformat(),
            "productId": item,
            "reason": "DISCONTINUED",
        },
    )
    row = await price_row(h, item, status="DELETED")
    assert row["price_cents"] == 900


async def test_product_deleted_before_created_leaves_a_tombstone(h: SystemHarness) -> None:
    item = str(uuid.uuid4())
    await h.deliver(
        "product-deleted",
        {"eventId": str(uuid.uuid4()), "occurredAt": T0.isoformat(), "productId": item},
    )
    await price_row(h, item, status="DELETED")
    await h.deliver(
        "product-created",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": (T0 + timedelta(1)).isoformat(),
            "product": {"productId": item, "price": 10, "currency": "USD", "status": "ACTIVE"},
        },
    )
    await h.quiet(0.5)
    row = await price_row(h, item)
    assert row["status"] == "DELETED"


async def test_product_created_without_price_is_not_sellable(h: SystemHarness) -> None:
    item = str(uuid.uuid4())
    await h.deliver(
        "product-created",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": T0.isoformat(),
            "product": {"productId": item, "name": "No price yet"},
        },
    )
    await h.quiet(0.5)
    assert (
        await h.rows(DB, "SELECT * FROM product_prices WHERE product_id = :p", p=hexid(item)) == []
    )


async def checked_out_cart(
    h: SystemHarness, customer: str, code: str | None = None
) -> tuple[str, str]:
    item = await product(h, price=2000)
    cart = (await new_cart(h, customer))["cartId"]
    await add(h, cart, item, customer)
    extra = {"promotionCode": code} if code else {}
    response = await checkout(h, cart, customer, **extra)
    assert response.status_code == 200, response.text
    return cart, response.json()["checkoutId"]


async def cart_state(h: SystemHarness, cart: str, customer: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await h.client.get(f"/carts/{cart}", headers=h.auth(customer))
        ).json()
        return body if body["status"] == status else None

    result: dict[str, Any] = await until(probe)
    return result


async def test_checkout_completed_closes_the_cart_for_good(h: SystemHarness) -> None:
    await promotions(h, 0, [])
    customer = str(uuid.uuid4())
    cart, checkout_id = await checked_out_cart(h, customer)
    completed = {
        "checkoutId": checkout_id,
        "orderId": str(uuid.uuid4()),
        "cartId": cart,
        "completedAt": T0.isoformat(),
    }
    await h.deliver("checkout-completed", completed)
    await cart_state(h, cart, customer, "CHECKED_OUT")
    # A failure arriving afterwards (stale or bogus) does not reopen it.
    failed = {
        "checkoutId": checkout_id,
        "cartId": cart,
        "orderId": completed["orderId"],
        "reason": "TIMEOUT",
        "failedAt": T0.isoformat(),
    }
    await h.deliver("checkout-failed", failed)
    await h.quiet(0.5)
    await cart_state(h, cart, customer, "CHECKED_OUT")


async def test_checkout_failed_reopens_the_cart_and_clears_the_discount(h: SystemHarness) -> None:
    await promotions(h, 200, ["WELCOME10"])
    customer = str(uuid.uuid4())
    cart, checkout_id = await checked_out_cart(h, customer, "WELCOME10")
    failed = {
        "checkoutId": checkout_id,
        "cartId": cart,
        "orderId": str(uuid.uuid4()),
        "reason": "PAYMENT_DECLINED",
        "detail": "card declined",
        "failedAt": T0.isoformat(),
    }
    await h.deliver("checkout-failed", failed)
    body = await cart_state(h, cart, customer, "OPEN")
    assert (body["discount"], body["total"], body["appliedPromotions"]) == (0, 2000, [])
    assert body["checkoutId"] == checkout_id  # the storefront can still show why it failed
    # The shopper can change the cart and check out again.
    item = await product(h, price=500)
    assert (await add(h, cart, item, customer)).status_code == 200
    again = await checkout(h, cart, customer)
    assert again.status_code == 200
    assert again.json()["checkoutId"] != checkout_id


async def test_outcome_of_another_checkout_is_ignored(h: SystemHarness) -> None:
    await promotions(h, 0, [])
    customer = str(uuid.uuid4())
    cart, _ = await checked_out_cart(h, customer)
    await h.deliver(
        "checkout-failed",
        {
            "checkoutId": str(uuid.uuid4()),
            "cartId": cart,
            "orderId": str(uuid.uuid4()),
            "reason": "TIMEOUT",
            "failedAt": T0.isoformat(),
        },
    )
    await h.deliver(
        "checkout-completed",
        {
            "checkoutId": str(uuid.uuid4()),
            "orderId": str(uuid.uuid4()),
            "cartId": str(uuid.uuid4()),  # unknown cart
            "completedAt": T0.isoformat(),
        },
    )
    await h.quiet(0.5)
    await cart_state(h, cart, customer, "CHECKING_OUT")


async def test_discount_calculated_records_the_applied_promotions(h: SystemHarness) -> None:
    """The reply was lost (no promotion service): the record of a zero discount is kept, a
    record of a discount the cart did not apply is ignored."""
    customer = str(uuid.uuid4())
    cart, _ = await checked_out_cart(h, customer, "SAVE5")
    later = datetime.now(UTC) + timedelta(minutes=1)
    await h.deliver(
        "discount-calculated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": later.isoformat(),
            "cartId": cart,
            "discount": 500,
            "currency": "USD",
            "appliedPromotions": ["SAVE5"],
        },
    )
    await h.quiet(0.5)
    body = (await h.client.get(f"/carts/{cart}", headers=h.auth(customer))).json()
    assert (body["discount"], body["appliedPromotions"]) == (0, [])


async def test_discount_calculated_replaces_the_checkout_record(h: SystemHarness) -> None:
    await promotions(h, 200, ["WELCOME10"])
    customer = str(uuid.uuid4())
    cart, _ = await checked_out_cart(h, customer, "WELCOME10")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    await h.deliver(
        "discount-calculated",
        {
            "eventId": str(uuid.uuid4()),
            "occurredAt": later.isoformat(),
            "cartId": cart,
            "discount": 200,
            "currency": "USD",
            "appliedPromotions": ["WELCOME10"],
        },
    )

    async def recorded() -> list[dict[str, Any]]:
        rows = await h.rows(DB, "SELECT * FROM cart_discounts WHERE cart_id = :c", c=hexid(cart))
        return [r for r in rows if r["calculated_at"] >= later]

    [row] = await until(recorded)
    assert (row["promotion"], row["discount_cents"], row["currency"]) == ("WELCOME10", 200, "USD")


async def test_discount_calculated_for_unknown_or_open_cart_is_ignored(h: SystemHarness) -> None:
    customer = str(uuid.uuid4())
    cart = (await new_cart(h, customer))["cartId"]
    for cart_id in (cart, str(uuid.uuid4())):
        await h.deliver(
            "discount-calculated",
            {
                "eventId": str(uuid.uuid4()),
                "occurredAt": T0.isoformat(),
                "cartId": cart_id,
                "discount": 0,
                "currency": "USD",
                "appliedPromotions": [],
            },
        )
    await h.quiet(0.5)
    assert await h.rows(DB, "SELECT * FROM cart_discounts") == []
    dead = await h.rows("runtime", "SELECT * FROM dead_letters")
    assert dead == []
