"""order-service in-process: every message it receives and every HTTP operation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from acme.systems.order_management.domain import record_checksum
from tests.systems.harness import Captured, SystemHarness, running_system

DB = "order-database"
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "countryCode": "US"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def h(
    tmp_path: Path, nats_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SystemHarness]:
    monkeypatch.setenv("ACME_ORDER_ARCHIVE_INTERVAL_SECONDS", "0.1")
    async with running_system(
        "order-management-system", data_dir=tmp_path / "data", nats_url=nats_url, clock=clock
    ) as harness:
        yield harness


def hexid(value: str) -> str:
    return uuid.UUID(value).hex


def create_order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cartId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "items": [
            {"productId": str(uuid.uuid4()), "quantity": 2, "unitPrice": 1500, "sku": "BOOK"},
            {"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 500},
        ],
        "total": 3150,
        "currency": "USD",
        "paymentAuthorizationId": "pi_123",
        "checkoutId": str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "inventoryReservationId": str(uuid.uuid4()),
        "deliveryAddress": ADDRESS,
    }
    body.update(changes)
    return body


def of(order_id: str) -> Any:
    return lambda b: b.get("orderId") == order_id


async def one(h: SystemHarness, message: str, order_id: str) -> Captured:
    [captured] = await h.published(message, where=of(order_id))
    return captured


async def status_changes(h: SystemHarness, order_id: str, count: int) -> list[dict[str, Any]]:
    found = await h.published("order-status-changed", count=count, where=of(order_id))
    return sorted((c.body for c in found), key=lambda b: int(b["sequence"]))


async def placed(h: SystemHarness, **changes: Any) -> dict[str, Any]:
    """An order as the checkout saga creates it, waited for until AWAITING_FULFILMENT."""
    command = create_order(**changes)
    await h.deliver("create-order", command)
    await status_changes(h, command["orderId"], 2)
    return command


async def view(h: SystemHarness, order: dict[str, Any], status: str) -> dict[str, Any]:
    for _ in range(300):
        response = await h.client.get(
            f"/orders/{order['orderId']}", headers=h.auth(order["customerId"])
        )
        if response.status_code == 200 and response.json()["status"] == status:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.03)
    raise AssertionError(f"order never reached {status}: {response.text}")


async def history(h: SystemHarness, order_id: str) -> list[dict[str, Any]]:
    return await h.rows(
        DB,
        "SELECT entry_type, sequence, previous_status, status, refund_id, amount_cents "
        "FROM order_status_history WHERE order_id = :o ORDER BY changed_at, sequence",
        o=hexid(order_id),
    )


async def packed(h: SystemHarness, order: dict[str, Any]) -> str:
    job = str(uuid.uuid4())
    await h.deliver(
        "order-packed",
        {
            "orderId": order["orderId"],
            "pickingJobId": job,
            "parcelCount": 1,
            "packedAt": datetime.now(UTC).isoformat(),
        },
    )
    await view(h, order, "FULFILLING")
    return job


async def shipment_failed(h: SystemHarness, order: dict[str, Any], reason: str) -> None:
    await h.deliver(
        "shipment-failed",
        {
            "shipmentId": str(uuid.uuid4()),
            "orderId": order["orderId"],
            "reason": reason,
            "failedAt": datetime.now(UTC).isoformat(),
        },
    )
    await view(h, order, "ON_HOLD")


# -- create-order -------------------------------------------------------------------------------


async def test_create_order_creates_confirms_and_awaits_fulfilment(h: SystemHarness) -> None:
    command = create_order()
    order_id = command["orderId"]
    await h.deliver("create-order", command)
    created = await one(h, "order-created", order_id)
    assert created.subject == "ordering.events.order-created"
    assert created.body["status"] == "created"
    assert created.body["customerId"] == command["customerId"]
    assert (created.body["total"], created.body["currency"]) == (3150, "USD")
    # order-created requires a SKU; the line without one carries its product id instead.
    assert sorted(
        (i["sku"], i["quantity"], i["unitPrice"]) for i in created.body["items"]
    ) == sorted([("BOOK", 2, 1500), (command["items"][1]["productId"], 1, 500)])
    confirmed = await one(h, "order-confirmed", order_id)
    assert confirmed.body["confirmationNumber"] == "ORD-00000001"
    assert confirmed.body["checkoutId"] == command["checkoutId"]
    assert confirmed.body["inventoryReservationId"] == command["inventoryReservationId"]
    assert confirmed.body["paymentAuthorizationId"] == "pi_123"
    assert {k: v for k, v in confirmed.body["deliveryAddress"].items() if v} == ADDRESS
    assert sorted((i["productId"], i["quantity"]) for i in confirmed.body["items"]) == sorted(
        (i["productId"], i["quantity"]) for i in command["items"]
    )
    changes = await status_changes(h, order_id, 2)
    assert [(c["previousStatus"], c["newStatus"], c["sequence"]) for c in changes] == [
        ("CREATED", "CONFIRMED", 2),
        ("CONFIRMED", "AWAITING_FULFILMENT", 3),
    ]
    body = await view(h, command, "AWAITING_FULFILMENT")
    assert body["confirmationNumber"] == "ORD-00000001"
    assert body["checkoutId"] == command["checkoutId"]
    assert {i["productId"]: i.get("sku") for i in body["items"]} == {
        i["productId"]: i.get("sku") for i in command["items"]
    }
    assert [
        (r["sequence"], r["previous_status"], r["status"]) for r in await history(h, order_id)
    ] == [
        (1, None, "CREATED"),
        (2, "CREATED", "CONFIRMED"),
        (3, "CONFIRMED", "AWAITING_FULFILMENT"),
    ]


async def test_create_order_is_idempotent_by_order_id(h: SystemHarness) -> None:
    command = await placed(h)
    await h.deliver("create-order", command)  # redelivered under a new message id
    second = await placed(h)  # another order gets the next number
    await h.quiet(0.5)
    assert len(h.seen("order-created")) == 2
    assert [c.body["confirmationNumber"] for c in h.seen("order-confirmed")] == [
        "ORD-00000001",
        "ORD-00000002",
    ]
    assert second["orderId"] != command["orderId"]
    rows = await h.rows(DB, "SELECT COUNT(*) AS n FROM orders")
    assert rows == [{"n": 2}]


async def test_create_order_with_duplicate_lines_is_dead_lettered(h: SystemHarness) -> None:
    product = str(uuid.uuid4())
    command = create_order(
        items=[
            {"productId": product, "quantity": 1, "unitPrice": 100},
            {"productId": product, "quantity": 1, "unitPrice": 100},
        ]
    )
    await h.deliver("create-order", command)
    for _ in range(100):
        dead = await h.rows("runtime", "SELECT service, error FROM dead_letters")
        if dead:
            break
        await asyncio.sleep(0.05)
    assert dead[0]["service"] == "order-service" and "twice" in dead[0]["error"]
    assert h.seen("order-created") == []


# -- fulfilment and delivery ------------------------------------------------------------------


async def test_packed_then_delivered_completes_the_order(h: SystemHarness) -> None:
    order = await placed(h)
    job = await packed(h, order)
    started = await one(h, "order-fulfilment-started", order["orderId"])
    assert started.body["fulfilmentId"] == job
    assert started.body["itemCount"] == 3
    assert (
        started.body["warehouseId"],
        started.body["priority"],
        started.body["deliveryMethod"],
    ) == (
        "eu-west-1-main",
        "STANDARD",
        "HOME_DELIVERY",
    )
    await h.deliver(
        "shipment-delivered",
        {
            "shipmentId": str(uuid.uuid4()),
            "orderId": order["orderId"],
            "deliveredAt": datetime.now(UTC).isoformat(),
        },
    )
    await view(h, order, "COMPLETED")
    completed = await one(h, "order-completed", order["orderId"])
    assert completed.body["customerId"] == order["customerId"]
    changes = await status_changes(h, order["orderId"], 4)
    assert [c["newStatus"] for c in changes] == [
        "CONFIRMED",
        "AWAITING_FULFILMENT",
        "FULFILLING",
        "COMPLETED",
    ]
    assert [c["sequence"] for c in changes] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("FAILED_DELIVERY", "ADDRESS_VERIFICATION"),
        ("LOST", "INVENTORY_RECHECK"),
        ("DAMAGED", "INVENTORY_RECHECK"),
        ("RETURNED_TO_SENDER", "INVENTORY_RECHECK"),
    ],
)
async def test_failed_shipment_puts_the_order_on_hold(
    h: SystemHarness, failure: str, reason: str
) -> None:
    order = await placed(h)
    await packed(h, order)
    await shipment_failed(h, order, failure)
    hold = await one(h, "order-placed-on-hold", order["orderId"])
    assert hold.body["reason"] == reason
    assert hold.body["ownerTeam"] == "ordering-platform"
    placed_at = datetime.fromisoformat(hold.body["placedAt"])
    assert datetime.fromisoformat(hold.body["reviewBy"]) - placed_at == timedelta(days=3)
    body = await view(h, order, "ON_HOLD")
    assert body["holdReason"] == reason


async def test_delivery_of_a_held_order_completes_it(h: SystemHarness) -> None:
    order = await placed(h)
    await packed(h, order)
    await shipment_failed(h, order, "FAILED_DELIVERY")
    await h.deliver(
        "shipment-delivered",
        {
            "shipmentId": str(uuid.uuid4()),
            "orderId": order["orderId"],
            "deliveredAt": datetime.now(UTC).isoformat(),
        },
    )
    body = await view(h, order, "COMPLETED")
    assert "holdReason" not in body


async def test_events_that_do_not_fit_are_acknowledged_without_transition(
    h: SystemHarness,
) -> None:
    order = await placed(h)
    # Delivered before packed, failed before shipped: no transition.
    await h.deliver(
        "shipment-delivered",
        {
            "shipmentId": str(uuid.uuid4()),
            "orderId": order["orderId"],
            "deliveredAt": datetime.now(UTC).isoformat(),
        },
    )
    await h.deliver(
        "shipment-failed",
        {
            "shipmentId": str(uuid.uuid4()),
            "orderId": order["orderId"],
            "reason": "LOST",
            "failedAt": datetime.now(UTC).isoformat(),
        },
    )
    # Events about orders that do not exist.
    await h.deliver(
        "order-packed", {"orderId": str(uuid.uuid4()), "packedAt": datetime.now(UTC).isoformat()}
    )
    await h.quiet(0.6)
    await view(h, order, "AWAITING_FULFILMENT")
    assert h.seen("order-completed") == [] and h.seen("order-placed-on-hold") == []
    assert await h.rows("runtime", "SELECT id FROM dead_letters") == []


async def test_order_packed_without_picking_job_id(h: SystemHarness) -> None:
    order = await placed(h)
    await h.deliver(
        "order-packed", {"orderId": order["orderId"], "packedAt": datetime.now(UTC).isoformat()}
    )
    started = await one(h, "order-fulfilment-started", order["orderId"])
    assert uuid.UUID(started.body["fulfilmentId"])


# -- refunds ------------------------------------------------------------------------------------


async def test_refund_processed_is_recorded_once_in_the_history(h: SystemHarness) -> None:
    order = await placed(h)
    refund = {
        "refundId": str(uuid.uuid4()),
        "paymentId": str(uuid.uuid4()),
        "amount": 3150,
        "currency": "USD",
        "processedAt": datetime.now(UTC).isoformat(),
        "orderId": order["orderId"],
    }
    await h.deliver("refund-processed", refund)
    await h.deliver("refund-processed", refund)  # redelivered under a new message id
    await h.deliver("refund-processed", {**refund, "refundId": str(uuid.uuid4()), "orderId": None})
    await h.quiet(0.6)
    refunds = [r for r in await history(h, order["orderId"]) if r["entry_type"] == "REFUND"]
    assert len(refunds) == 1
    assert refunds[0]["refund_id"] == uuid.UUID(refund["refundId"])
    assert refunds[0]["amount_cents"] == 3150
    assert refunds[0]["sequence"] is None
    assert refunds[0]["status"] == "AWAITING_FULFILMENT"


# -- cancellation -------------------------------------------------------------------------------


async def cancel(
    h: SystemHarness, order: dict[str, Any], *, reason: str = "CUSTOMER_REQUESTED", **auth: Any
) -> httpx.Response:
    headers = h.auth(auth.get("subject", order["customerId"]), admin=auth.get("admin", False))
    return await h.client.post(
        f"/orders/{order['orderId']}/cancel",
        json={"orderId": order["orderId"], "reason": reason},
        headers=headers,
    )


async def test_shopper_cancels_own_order(h: SystemHarness) -> None:
    order = await placed(h)
    response = await cancel(h, order)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CANCELLED"
    assert response.json()["cancellationReason"] == "CUSTOMER_REQUESTED"
    cancelled = await one(h, "order-cancelled", order["orderId"])
    assert cancelled.subject == "ordering.events.order-cancelled"
    assert cancelled.body["customerId"] == order["customerId"]
    assert cancelled.body["reason"] == "CUSTOMER_REQUESTED"
    changes = await status_changes(h, order["orderId"], 3)
    assert (changes[-1]["previousStatus"], changes[-1]["newStatus"]) == (
        "AWAITING_FULFILMENT",
        "CANCELLED",
    )
    again = await cancel(h, order)
    assert again.status_code == 409 and "Cannot cancel" in again.json()["detail"]
    # Packing afterwards does not revive it.
    await h.deliver(
        "order-packed", {"orderId": order["orderId"], "packedAt": datetime.now(UTC).isoformat()}
    )
    await h.quiet(0.5)
    await view(h, order, "CANCELLED")


async def test_cancellation_policy_over_http(h: SystemHarness) -> None:
    order = await placed(h)
    stranger = await cancel(h, order, subject=str(uuid.uuid4()))
    assert stranger.status_code == 403
    shopper_fraud = await cancel(h, order, reason="FRAUD")
    assert shopper_fraud.status_code == 403
    bad_reason = await cancel(h, order, reason="BORED")
    assert bad_reason.status_code == 422
    no_token = await h.client.post(
        f"/orders/{order['orderId']}/cancel",
        json={"orderId": order["orderId"], "reason": "CUSTOMER_REQUESTED"},
    )
    assert no_token.status_code == 401
    mismatch = await h.client.post(
        f"/orders/{order['orderId']}/cancel",
        json={"orderId": str(uuid.uuid4()), "reason": "CUSTOMER_REQUESTED"},
        headers=h.auth(order["customerId"]),
    )
    assert mismatch.status_code == 400
    missing = str(uuid.uuid4())
    unknown = await h.client.post(
        f"/orders/{missing}/cancel",
        json={"orderId": missing, "reason": "CUSTOMER_REQUESTED"},
        headers=h.auth(admin=True),
    )
    assert unknown.status_code == 404
    staff = await cancel(h, order, reason="FRAUD", admin=True)
    assert staff.status_code == 200
    assert staff.json()["cancellationReason"] == "FRAUD"


async def test_cannot_cancel_once_fulfilling(h: SystemHarness) -> None:
    order = await placed(h)
    await packed(h, order)
    for kwargs in ({}, {"admin": True}):
        response = await cancel(h, order, **kwargs)
        assert response.status_code == 409
        assert "Cannot cancel" in response.json()["detail"]
    assert h.seen("order-cancelled") == []


async def test_held_order_can_be_cancelled(h: SystemHarness) -> None:
    order = await placed(h)
    await packed(h, order)
    await shipment_failed(h, order, "LOST")
    response = await cancel(h, order, reason="OUT_OF_STOCK", admin=True)
    assert response.status_code == 200
    assert "holdReason" not in response.json()


async def test_cancel_order_command_from_the_checkout_saga(h: SystemHarness) -> None:
    order = await placed(h)
    await h.deliver("cancel-order", {"orderId": order["orderId"], "reason": "PAYMENT_FAILED"})
    cancelled = await one(h, "order-cancelled", order["orderId"])
    assert cancelled.body["reason"] == "PAYMENT_FAILED"
    await view(h, order, "CANCELLED")
    # Refused on the broker (already cancelled, unknown order): logged and acknowledged.
    await h.deliver("cancel-order", {"orderId": order["orderId"], "reason": "PAYMENT_FAILED"})
    await h.deliver("cancel-order", {"orderId": str(uuid.uuid4()), "reason": "PAYMENT_FAILED"})
    await h.quiet(0.5)
    assert len(h.seen("order-cancelled")) == 1
    assert await h.rows("runtime", "SELECT id FROM dead_letters") == []


# -- address and holds --------------------------------------------------------------------------


async def test_change_delivery_address(h: SystemHarness) -> None:
    order = await placed(h)
    new_address = {
        "line1": "2 Side St",
        "city": "Shelbyville",
        "postalCode": "99999",
        "countryCode": "US",
    }
    url = f"/orders/{order['orderId']}/delivery-address"
    body = {"orderId": order["orderId"], "deliveryAddress": new_address, "reason": "moved"}
    response = await h.client.put(url, json=body, headers=h.auth(order["customerId"]))
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json()["deliveryAddress"].items() if v} == new_address
    assert response.json()["status"] == "AWAITING_FULFILMENT"
    changed = await one(h, "order-delivery-address-changed", order["orderId"])
    assert changed.body["addressRevision"] == 2
    assert changed.body["previousPostalCode"] == "12345"
    assert changed.body["changedBy"] == order["customerId"]
    amended = await one(h, "order-amended", order["orderId"])
    assert amended.body["revision"] == 2
    assert amended.body["changedFields"] == ["deliveryAddress"]
    assert (amended.body["previousTotal"], amended.body["newTotal"]) == (3150, 3150)
    assert amended.body["reason"] == "moved"
    stranger = await h.client.put(url, json=body, headers=h.auth(str(uuid.uuid4())))
    assert stranger.status_code == 403
    mismatch = await h.client.put(
        url, json={**body, "orderId": str(uuid.uuid4())}, headers=h.auth(order["customerId"])
    )
    assert mismatch.status_code == 400
    invalid = await h.client.put(
        url,
        json={**body, "deliveryAddress": {**new_address, "countryCode": "usa"}},
        headers=h.auth(order["customerId"]),
    )
    assert invalid.status_code == 422
    await packed(h, order)
    late = await h.client.put(url, json=body, headers=h.auth(admin=True))
    assert late.status_code == 409


async def test_staff_release_a_hold(h: SystemHarness) -> None:
    order = await placed(h)
    url = f"/orders/{order['orderId']}/release-hold"
    body = {
        "orderId": order["orderId"],
        "resolution": "address confirmed",
        "nextStatus": "AWAITING_FULFILMENT",
    }
    not_held = await h.client.post(url, json=body, headers=h.auth(admin=True))
    assert not_held.status_code == 409
    await packed(h, order)
    await shipment_failed(h, order, "FAILED_DELIVERY")
    hold = await one(h, "order-placed-on-hold", order["orderId"])
    shopper = await h.client.post(url, json=body, headers=h.auth(order["customerId"]))
    assert shopper.status_code == 403
    mismatch = await h.client.post(
        url, json={**body, "orderId": str(uuid.uuid4())}, headers=h.auth(admin=True)
    )
    assert mismatch.status_code == 400
    staff_id = str(uuid.uuid4())
    released = await h.client.post(url, json=body, headers=h.auth(staff_id, admin=True))
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "AWAITING_FULFILMENT"
    assert "holdReason" not in released.json()
    event = await one(h, "order-hold-released", order["orderId"])
    assert event.body["holdId"] == hold.body["holdId"]
    assert event.body["previousReason"] == "ADDRESS_VERIFICATION"
    assert event.body["releasedBy"] == staff_id
    assert event.body["nextStatus"] == "AWAITING_FULFILMENT"
    changes = await status_changes(h, order["orderId"], 5)
    assert (changes[-1]["previousStatus"], changes[-1]["newStatus"]) == (
        "ON_HOLD",
        "AWAITING_FULFILMENT",
    )


# -- queries ------------------------------------------------------------------------------------


async def test_get_order_access(h: SystemHarness) -> None:
    order = await placed(h)
    url = f"/orders/{order['orderId']}"
    assert (await h.client.get(url)).status_code == 401
    assert (await h.client.get(url, headers=h.auth(str(uuid.uuid4())))).status_code == 403
    assert (await h.client.get(url, headers=h.auth(admin=True))).status_code == 200
    missing = await h.client.get(f"/orders/{uuid.uuid4()}", headers=h.auth(admin=True))
    assert missing.status_code == 404
    assert (await h.client.get("/orders/x", headers=h.auth(admin=True))).status_code == 422


async def test_list_orders(h: SystemHarness, clock: Clock) -> None:
    customer = str(uuid.uuid4())
    mine = []
    for _ in range(3):
        mine.append(await placed(h, customerId=customer))
        clock.now += timedelta(seconds=1)
    other = await placed(h)
    await cancel(h, mine[0])
    own = await h.client.get("/orders", headers=h.auth(customer))
    assert own.status_code == 200
    body = own.json()
    assert body["total"] == 3 and (body["page"], body["pageSize"]) == (1, 20)
    assert [o["orderId"] for o in body["orders"]] == [o["orderId"] for o in reversed(mine)]
    assert body["orders"][0]["itemCount"] == 3
    assert body["orders"][0]["confirmationNumber"].startswith("ORD-")
    page = await h.client.get(
        "/orders", params={"page": 2, "pageSize": 2}, headers=h.auth(customer)
    )
    assert [o["orderId"] for o in page.json()["orders"]] == [mine[0]["orderId"]]
    cancelled = await h.client.get(
        "/orders", params={"status": "CANCELLED"}, headers=h.auth(customer)
    )
    assert [o["orderId"] for o in cancelled.json()["orders"]] == [mine[0]["orderId"]]
    forbidden = await h.client.get(
        "/orders", params={"customerId": other["customerId"]}, headers=h.auth(customer)
    )
    assert forbidden.status_code == 403
    staff = await h.client.get(
        "/orders", params={"customerId": other["customerId"]}, headers=h.auth(admin=True)
    )
    assert [o["orderId"] for o in staff.json()["orders"]] == [other["orderId"]]
    everyone = await h.client.get("/orders", headers=h.auth(admin=True))
    assert everyone.json()["total"] == 4
    assert (
        await h.client.get("/orders", params={"pageSize": 101}, headers=h.auth(customer))
    ).status_code == 422
    assert (await h.client.get("/orders")).status_code == 401
    deep = await h.client.get("/orders", params={"page": 10**9}, headers=h.auth(customer))
    assert deep.status_code == 200 and deep.json()["orders"] == []


# -- archive ------------------------------------------------------------------------------------


async def test_finished_orders_are_archived_after_the_delay(h: SystemHarness, clock: Clock) -> None:
    order = await placed(h)
    done = await cancel(h, order)
    assert done.status_code == 200
    open_order = await placed(h)
    clock.now += timedelta(days=29)
    await h.quiet(0.4)
    assert h.seen("order-archived") == []
    clock.now += timedelta(days=1, seconds=1)
    archived = await one(h, "order-archived", order["orderId"])
    assert archived.body["terminalStatus"] == "CANCELLED"
    assert archived.body["retentionCategory"] == "FINANCIAL_RECORD"
    assert archived.body["archiveReference"] == f"orders/{order['orderId']}"
    assert len(archived.body["recordChecksum"]) == 64
    assert archived.body["recordChecksum"] != record_checksum({})
    await view(h, order, "ARCHIVED")
    changes = await status_changes(h, order["orderId"], 4)
    assert (changes[-1]["previousStatus"], changes[-1]["newStatus"]) == ("CANCELLED", "ARCHIVED")
    await h.quiet(0.3)
    assert len(h.seen("order-archived")) == 1
    await view(h, open_order, "AWAITING_FULFILMENT")
