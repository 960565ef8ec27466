"""The Checkout System in-process: checkout-api and the saga of checkout-orchestrator, driven by
the replies of the stock, payment and order services as those would send them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.systems.harness import Captured, SystemHarness, running_system

DB = "checkout-database"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def h(
    tmp_path: Path, nats_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SystemHarness]:
    monkeypatch.setenv("ACME_CHECKOUT_SWEEP_INTERVAL_SECONDS", "0.1")
    async with running_system(
        "checkout-system", data_dir=tmp_path / "data", nats_url=nats_url, clock=clock
    ) as harness:
        yield harness


def hexid(value: str) -> str:
    return uuid.UUID(value).hex


ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "countryCode": "US"}


def cart_checked_out(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "occurredAt": datetime.now(UTC).isoformat(),
        "cartId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "items": [
            {"productId": str(uuid.uuid4()), "quantity": 2, "unitPrice": 1500, "sku": "BOOK"},
            {"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 500},
        ],
        "subtotal": 3500,
        "discount": 350,
        "total": 3150,
        "currency": "USD",
        "paymentMethod": "pm_card_visa",
        "deliveryAddress": ADDRESS,
    }
    body.update(changes)
    return body


def about(checkout_id: str) -> Any:
    return lambda b: b.get("checkoutId") == checkout_id


def distinct(captured: list[Captured]) -> list[Captured]:
    """One entry per message id: the harness also sees the broker's deliveries of messages this
    system consumes itself (checkout-started), with the same headers."""
    unique: dict[str, Captured] = {}
    for c in captured:
        unique.setdefault(c.headers["message-id"], c)
    return list(unique.values())


def sent(h: SystemHarness, message: str) -> list[Captured]:
    return distinct(h.seen(message))


async def one(h: SystemHarness, message: str, checkout_id: str) -> Captured:
    await h.published(message, where=about(checkout_id))
    [captured] = distinct([c for c in h.seen(message) if about(checkout_id)(c.body)])
    return captured


async def start(h: SystemHarness, **changes: Any) -> tuple[dict[str, Any], Captured]:
    """Open a checkout and wait for the saga's first command."""
    event = cart_checked_out(**changes)
    await h.deliver("cart-checked-out", event)
    reserve = await one(h, "reserve-inventory", event["eventId"])
    return event, reserve


async def reserved(h: SystemHarness, event: dict[str, Any], order_id: str) -> str:
    reservation = str(uuid.uuid4())
    await h.deliver(
        "inventory-reserved",
        {
            "reservationId": reservation,
            "orderId": order_id,
            "cartId": event["cartId"],
            "checkoutId": event["eventId"],
            "items": [
                {"productId": i["productId"], "quantity": i["quantity"]} for i in event["items"]
            ],
            "reservedAt": datetime.now(UTC).isoformat(),
        },
    )
    return reservation


async def authorized(h: SystemHarness, event: dict[str, Any], order_id: str) -> str:
    payment = str(uuid.uuid4())
    await h.deliver(
        "payment-authorized",
        {
            "paymentId": payment,
            "orderId": order_id,
            "checkoutId": event["eventId"],
            "amount": event["total"],
            "currency": "USD",
            "processorReference": "pi_123",
            "authorizedAt": datetime.now(UTC).isoformat(),
        },
    )
    return payment


def order_created(event: dict[str, Any], order_id: str) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "customerId": event["customerId"],
        "total": event["total"],
        "currency": "USD",
        "status": "created",
        "items": [{"sku": "BOOK", "quantity": 2, "unitPrice": 1500}],
        "createdAt": datetime.now(UTC).isoformat(),
    }


async def checkout_view(h: SystemHarness, event: dict[str, Any], status: str) -> dict[str, Any]:
    url = f"/checkouts/{event['eventId']}"
    headers = h.auth(event["customerId"])
    for _ in range(300):
        response = await h.client.get(url, headers=headers)
        if response.status_code == 200 and response.json()["status"] == status:
            body: dict[str, Any] = response.json()
            return body
        await h.quiet(0.03)
    raise AssertionError(f"checkout never reached {status}: {response.status_code} {response.text}")


async def steps(h: SystemHarness, checkout_id: str) -> dict[str, str]:
    rows = await h.rows(
        DB, "SELECT step, status FROM saga_steps WHERE checkout_id = :c", c=hexid(checkout_id)
    )
    return {r["step"]: r["status"] for r in rows}


# -- the happy path -------------------------------------------------------------------------


async def test_happy_path_reserves_pays_orders_and_completes(h: SystemHarness) -> None:
    event = cart_checked_out()
    await h.deliver("cart-checked-out", event)
    started = await one(h, "checkout-started", event["eventId"])
    assert started.subject == "ordering.events.checkout-started"
    order_id = started.body["orderId"]
    assert started.body["cartId"] == event["cartId"]
    assert started.body["customerId"] == event["customerId"]
    assert (started.body["total"], started.body["subtotal"], started.body["discount"]) == (
        3150,
        3500,
        350,
    )
    assert started.body["paymentMethod"] == "pm_card_visa"

    reserve = await one(h, "reserve-inventory", event["eventId"])
    assert reserve.subject == "fulfilment.commands.reserve-inventory"
    assert reserve.body["orderId"] == order_id
    assert sorted((i["productId"], i["quantity"]) for i in reserve.body["items"]) == sorted(
        (i["productId"], i["quantity"]) for i in event["items"]
    )
    assert (await checkout_view(h, event, "RESERVING_INVENTORY"))["orderId"] == order_id

    reservation = await reserved(h, event, order_id)
    pay = await one(h, "authorize-payment", event["eventId"])
    assert pay.subject == "payments.commands.authorize-payment"
    assert (pay.body["amount"], pay.body["currency"], pay.body["paymentMethod"]) == (
        3150,
        "USD",
        "pm_card_visa",
    )
    assert pay.body["orderId"] == order_id and pay.body["cartId"] == event["cartId"]

    await authorized(h, event, order_id)
    create = await one(h, "create-order", event["eventId"])
    assert create.subject == "ordering.commands.create-order"
    body = create.body
    assert (body["orderId"], body["inventoryReservationId"]) == (order_id, reservation)
    assert body["paymentAuthorizationId"] == "pi_123"
    assert (body["total"], body["currency"], body["customerId"]) == (
        3150,
        "USD",
        event["customerId"],
    )
    assert {
        i["productId"]: (i["quantity"], i["unitPrice"], i.get("sku")) for i in body["items"]
    } == {i["productId"]: (i["quantity"], i["unitPrice"], i.get("sku")) for i in event["items"]}
    assert {k: v for k, v in body["deliveryAddress"].items() if v is not None} == ADDRESS

    await h.deliver("order-created", order_created(event, order_id))
    completed = await one(h, "checkout-completed", event["eventId"])
    assert completed.body["orderId"] == order_id
    assert completed.body["cartId"] == event["cartId"]
    view = await checkout_view(h, event, "COMPLETED")
    assert "failureReason" not in view and view["completedAt"] is not None
    assert await steps(h, event["eventId"]) == {
        "RESERVE_INVENTORY": "SUCCEEDED",
        "AUTHORIZE_PAYMENT": "SUCCEEDED",
        "CREATE_ORDER": "SUCCEEDED",
    }
    await h.quiet(0.3)
    assert h.seen("checkout-failed") == [] and h.seen("release-inventory") == []
    # Each step records the id of the command it sent (the id the broker delivered it with).
    commands = await h.rows(
        DB,
        "SELECT step, command_message_id FROM saga_steps WHERE checkout_id = :c",
        c=hexid(event["eventId"]),
    )
    assert {r["step"]: r["command_message_id"] for r in commands} == {
        "RESERVE_INVENTORY": reserve.headers["message-id"],
        "AUTHORIZE_PAYMENT": pay.headers["message-id"],
        "CREATE_ORDER": create.headers["message-id"],
    }


async def test_saga_state_survives_a_restart(tmp_path: Path, nats_url: str) -> None:
    data = tmp_path / "data"
    async with running_system("checkout-system", data_dir=data, nats_url=nats_url) as first:
        event, reserve = await start(first)
    order_id = reserve.body["orderId"]
    # The stopped process leaves pull requests (5 s expiry) on the server; the harness's
    # catch-all subscription would give their inboxes interest, so let them expire first.
    await asyncio.sleep(5.5)
    async with running_system("checkout-system", data_dir=data, nats_url=nats_url) as second:
        await reserved(second, event, order_id)
        pay = await one(second, "authorize-payment", event["eventId"])
        assert pay.body["orderId"] == order_id
        await checkout_view(second, event, "AUTHORIZING_PAYMENT")


# -- failures -------------------------------------------------------------------------------


async def test_out_of_stock_fails_without_compensation(h: SystemHarness) -> None:
    event, reserve = await start(h)
    short = event["items"][0]["productId"]
    await h.deliver(
        "inventory-unavailable",
        {
            "orderId": reserve.body["orderId"],
            "cartId": event["cartId"],
            "checkoutId": event["eventId"],
            "unavailableItems": [{"productId": short, "requested": 2, "available": 1}],
            "checkedAt": datetime.now(UTC).isoformat(),
        },
    )
    failed = await one(h, "checkout-failed", event["eventId"])
    assert failed.subject == "ordering.events.checkout-failed"
    assert failed.body["reason"] == "OUT_OF_STOCK"
    assert short in failed.body["detail"]
    assert failed.body["orderId"] == reserve.body["orderId"]
    assert failed.body["cartId"] == event["cartId"]
    view = await checkout_view(h, event, "FAILED")
    assert view["failureReason"] == "OUT_OF_STOCK"
    assert short in view["failureDetail"]
    await h.quiet(0.3)
    assert h.seen("release-inventory") == [] and h.seen("authorize-payment") == []
    assert (await steps(h, event["eventId"]))["RESERVE_INVENTORY"] == "FAILED"


@pytest.mark.parametrize(
    ("decline", "reason"),
    [("CARD_DECLINED", "PAYMENT_DECLINED"), ("FRAUD_SUSPECTED", "FRAUD_SUSPECTED")],
)
async def test_declined_payment_releases_stock_and_fails(
    h: SystemHarness, decline: str, reason: str
) -> None:
    event, reserve = await start(h)
    order_id = reserve.body["orderId"]
    reservation = await reserved(h, event, order_id)
    await one(h, "authorize-payment", event["eventId"])
    declined = {
        "paymentId": str(uuid.uuid4()),
        "orderId": order_id,
        "checkoutId": event["eventId"],
        "reason": decline,
        "detail": "card_declined",
        "declinedAt": datetime.now(UTC).isoformat(),
    }
    await h.deliver("payment-declined", declined)
    failed = await one(h, "checkout-failed", event["eventId"])
    assert failed.body["reason"] == reason
    [release] = await h.published("release-inventory")
    assert release.subject == "fulfilment.commands.release-inventory"
    assert release.body == {"reservationId": reservation, "reason": "CHECKOUT_FAILED"}
    view = await checkout_view(h, event, "FAILED")
    assert view["failureReason"] == reason
    assert decline in view["failureDetail"]
    # The same decline again (a redelivery with a new id) changes nothing.
    await h.deliver("payment-declined", declined)
    await h.quiet(0.5)
    assert len(h.seen("release-inventory")) == 1 and len(h.seen("checkout-failed")) == 1
    assert await steps(h, event["eventId"]) == {
        "RESERVE_INVENTORY": "SUCCEEDED",
        "AUTHORIZE_PAYMENT": "FAILED",
        "RELEASE_INVENTORY": "SUCCEEDED",
    }


async def test_overdue_reservation_times_out_and_late_stock_is_released_once(
    h: SystemHarness, clock: Clock
) -> None:
    event, reserve = await start(h)
    clock.advance(61)
    failed = await one(h, "checkout-failed", event["eventId"])
    assert failed.body["reason"] == "TIMEOUT"
    assert "RESERVE_INVENTORY" in failed.body["detail"]
    assert (await steps(h, event["eventId"]))["RESERVE_INVENTORY"] == "TIMED_OUT"
    assert h.seen("release-inventory") == []
    # The stock service answers after all, twice: the hold is given back exactly once.
    reservation = await reserved(h, event, reserve.body["orderId"])
    await h.deliver(
        "inventory-reserved",
        {
            "reservationId": reservation,
            "checkoutId": event["eventId"],
            "items": [{"productId": event["items"][0]["productId"], "quantity": 2}],
            "reservedAt": datetime.now(UTC).isoformat(),
        },
    )
    [release] = await h.published("release-inventory")
    assert release.body["reservationId"] == reservation
    await h.quiet(0.5)
    assert len(h.seen("release-inventory")) == 1
    assert h.seen("authorize-payment") == []
    assert len(h.seen("checkout-failed")) == 1
    rows = await h.rows(
        DB, "SELECT reservation_id FROM checkouts WHERE checkout_id = :c", c=hexid(event["eventId"])
    )
    assert rows == [{"reservation_id": uuid.UUID(reservation)}]


async def test_overdue_payment_times_out_and_releases_the_reservation(
    h: SystemHarness, clock: Clock
) -> None:
    event, reserve = await start(h)
    reservation = await reserved(h, event, reserve.body["orderId"])
    await one(h, "authorize-payment", event["eventId"])
    clock.advance(61)
    failed = await one(h, "checkout-failed", event["eventId"])
    assert failed.body["reason"] == "TIMEOUT"
    [release] = await h.published("release-inventory")
    assert release.body["reservationId"] == reservation
    # A payment authorized afterwards is left to the Payment Worker's refund.
    await authorized(h, event, reserve.body["orderId"])
    await h.quiet(0.5)
    assert h.seen("create-order") == []
    assert (await checkout_view(h, event, "FAILED"))["failureReason"] == "TIMEOUT"


async def test_overdue_order_is_rejected_and_a_late_order_is_cancelled_once(
    h: SystemHarness, clock: Clock
) -> None:
    event, reserve = await start(h)
    order_id = reserve.body["orderId"]
    await reserved(h, event, order_id)
    await one(h, "authorize-payment", event["eventId"])
    await authorized(h, event, order_id)
    await one(h, "create-order", event["eventId"])
    clock.advance(61)
    failed = await one(h, "checkout-failed", event["eventId"])
    assert failed.body["reason"] == "ORDER_REJECTED"
    await h.published("release-inventory")
    # The order service created the order after all (and the event is redelivered).
    await h.deliver("order-created", order_created(event, order_id))
    await h.deliver("order-created", order_created(event, order_id))
    [cancel] = await h.published("cancel-order")
    assert cancel.subject == "ordering.commands.cancel-order"
    assert cancel.body == {"orderId": order_id, "reason": "PAYMENT_FAILED"}
    await h.quiet(0.5)
    assert len(h.seen("cancel-order")) == 1
    assert h.seen("checkout-completed") == []
    assert (await steps(h, event["eventId"]))["CANCEL_ORDER"] == "SUCCEEDED"


async def test_a_reply_before_the_deadline_is_not_swept(h: SystemHarness, clock: Clock) -> None:
    event, reserve = await start(h)
    clock.advance(30)
    await reserved(h, event, reserve.body["orderId"])
    await one(h, "authorize-payment", event["eventId"])
    clock.advance(45)  # 75 s after the start, 45 s into the payment step
    await h.quiet(0.5)
    assert h.seen("checkout-failed") == []


# -- idempotency and strays -----------------------------------------------------------------


async def test_cart_checked_out_twice_opens_one_checkout(h: SystemHarness) -> None:
    event, _ = await start(h)
    await h.deliver("cart-checked-out", event)  # redelivered with a new message id
    again = cart_checked_out(cartId=event["cartId"], customerId=event["customerId"])
    await h.deliver("cart-checked-out", again)  # a second checkout while the first runs
    await h.quiet(0.6)
    assert len(sent(h, "checkout-started")) == 1
    assert len(sent(h, "reserve-inventory")) == 1
    rows = await h.rows(DB, "SELECT checkout_id FROM checkouts")
    assert rows == [{"checkout_id": uuid.UUID(event["eventId"])}]


async def test_replies_in_the_wrong_state_or_for_unknown_checkouts_are_ignored(
    h: SystemHarness,
) -> None:
    event, reserve = await start(h)
    # Payment before stock: ignored; the saga still waits for stock.
    await authorized(h, event, reserve.body["orderId"])
    # Replies about checkouts that do not exist.
    stranger = cart_checked_out()
    await reserved(h, stranger, str(uuid.uuid4()))
    await h.deliver("order-created", order_created(stranger, str(uuid.uuid4())))
    await h.quiet(0.6)
    assert h.seen("create-order") == [] and h.seen("release-inventory") == []
    assert h.seen("cancel-order") == []
    await checkout_view(h, event, "RESERVING_INVENTORY")
    assert await h.rows("runtime", "SELECT id FROM dead_letters") == []


async def test_replies_are_matched_by_order_id_without_checkout_id(h: SystemHarness) -> None:
    event, reserve = await start(h)
    await h.deliver(
        "inventory-reserved",
        {
            "reservationId": str(uuid.uuid4()),
            "orderId": reserve.body["orderId"],
            "items": [{"productId": event["items"][0]["productId"], "quantity": 2}],
            "reservedAt": datetime.now(UTC).isoformat(),
        },
    )
    await one(h, "authorize-payment", event["eventId"])


async def test_duplicate_product_lines_are_dead_lettered(h: SystemHarness) -> None:
    product = str(uuid.uuid4())
    event = cart_checked_out(
        items=[
            {"productId": product, "quantity": 1, "unitPrice": 100},
            {"productId": product, "quantity": 2, "unitPrice": 100},
        ]
    )
    await h.deliver("cart-checked-out", event)
    for _ in range(100):
        dead = await h.rows("runtime", "SELECT service, error FROM dead_letters")
        if dead:
            break
        await h.quiet(0.05)
    assert dead[0]["service"] == "checkout-api"
    assert "twice" in dead[0]["error"]
    assert h.seen("checkout-started") == []


# -- GET /checkouts/{checkoutId} --------------------------------------------------------------


async def test_get_checkout_errors(h: SystemHarness) -> None:
    event, _ = await start(h)
    url = f"/checkouts/{event['eventId']}"
    assert (await h.client.get(url)).status_code == 401
    assert (await h.client.get(url, headers=h.auth(str(uuid.uuid4())))).status_code == 403
    staff = await h.client.get(url, headers=h.auth(admin=True))
    assert staff.status_code == 200 and staff.json()["customerId"] == event["customerId"]
    missing = await h.client.get(f"/checkouts/{uuid.uuid4()}", headers=h.auth(admin=True))
    assert missing.status_code == 404
    bad = await h.client.get("/checkouts/nope", headers=h.auth(admin=True))
    assert bad.status_code == 422
