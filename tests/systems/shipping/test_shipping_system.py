"""shipping-system on the real runtime: every message shipping-api and carrier-adapter receive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.systems.harness import SystemHarness, running_system
from tests.systems.probes import FakeClock, eventually, sent, sent_once


@pytest.fixture
async def sh(nats_url: str, tmp_path: Path) -> AsyncIterator[SystemHarness]:
    async with running_system(
        "shipping-system", data_dir=tmp_path, nats_url=nats_url, clock=FakeClock()
    ) as harness:
        yield harness


def ready(order_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "orderId": str(order_id),
        "customerId": str(uuid.uuid4()),
        "parcelCount": 2,
        "shippingAddress": {
            "recipientName": "Grace Hopper",
            "line1": "1 Navy Yard",
            "line2": "Building 7",
            "city": "Arlington",
            "postcode": "22201",
            "country": "US",
        },
        "readyAt": "2030-01-01T12:00:00Z",
    }
    payload.update(changes)
    return payload


def for_order(order_id: uuid.UUID) -> Any:
    return lambda body: body.get("orderId") == str(order_id)


async def shipment(h: SystemHarness, order_id: uuid.UUID) -> dict[str, Any] | None:
    rows = await h.rows(
        "shipping-database", "SELECT * FROM shipments WHERE order_id = :o", o=order_id.hex
    )
    return rows[0] if rows else None


async def wait_status(h: SystemHarness, order_id: uuid.UUID, status: str) -> dict[str, Any]:
    row = await eventually(
        lambda: shipment(h, order_id), lambda r: r is not None and r["status"] == status
    )
    assert row is not None
    return row


async def open_shipment(h: SystemHarness, order_id: uuid.UUID) -> str:
    await h.deliver("order-ready-for-shipping", ready(order_id))
    requested = await sent_once(h, "shipment-requested", for_order(order_id))
    return str(requested.body["shipmentId"])


async def test_ready_for_shipping_opens_a_shipment_and_books_it(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    await sh.deliver("order-ready-for-shipping", ready(order_id))

    requested = await sent_once(sh, "shipment-requested", for_order(order_id))
    shipment_id = requested.body["shipmentId"]
    assert requested.body["parcelCount"] == 2
    assert requested.body["service"] == "STANDARD"
    assert requested.body["destination"]["line2"] == "Building 7"
    row = await wait_status(sh, order_id, "REQUESTED")
    assert row["shipment_id"] == uuid.UUID(shipment_id)
    assert (row["line1"], row["city"], row["postcode"], row["country"]) == (
        "1 Navy Yard",
        "Arlington",
        "22201",
        "US",
    )
    assert row["requested_at"] == datetime(2030, 1, 1, 12, tzinfo=UTC)  # the injected clock

    # carrier-adapter receives shipment-requested and books with the carrier.
    booking = await sent_once(sh, "create-shipment", for_order(order_id))
    assert booking.subject == "fulfilment.commands.create-shipment"
    assert booking.body["shipmentId"] == shipment_id
    assert booking.body["carrier"] == "carrier"
    assert booking.body["service"] == "STANDARD"
    assert booking.body["parcelCount"] == 2
    assert booking.body["destination"] == requested.body["destination"]


async def test_redelivered_ready_for_shipping_books_once(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    payload = ready(order_id)
    await sh.deliver("order-ready-for-shipping", payload)
    await sent_once(sh, "create-shipment", for_order(order_id))
    await sh.deliver("order-ready-for-shipping", payload)
    await sh.quiet(0.4)
    assert len(sent(sh, "shipment-requested")) == 1
    assert len(sent(sh, "create-shipment")) == 1
    rows = await sh.rows(
        "shipping-database", "SELECT shipment_id FROM shipments WHERE order_id = :o", o=order_id.hex
    )
    assert len(rows) == 1


async def test_ready_for_shipping_defaults_to_one_parcel(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    await sh.deliver("order-ready-for-shipping", ready(order_id, parcelCount=None))
    requested = await sent_once(sh, "shipment-requested", for_order(order_id))
    assert requested.body["parcelCount"] == 1


async def test_ready_for_shipping_without_address_lines_is_dead_lettered(
    sh: SystemHarness,
) -> None:
    order_id = uuid.uuid4()
    wire_id = await sh.deliver(
        "order-ready-for-shipping",
        ready(order_id, shippingAddress={"city": "Arlington", "country": "US"}),
    )
    letters = await eventually(
        lambda: sh.rows(
            "runtime", "SELECT error FROM dead_letters WHERE message_id = :m", m=wire_id
        ),
        lambda rows: len(rows) == 1,
    )
    assert "lacks line1, postcode" in letters[0]["error"]
    assert await shipment(sh, order_id) is None
    assert not sent(sh, "shipment-requested")


async def test_shipment_created_records_the_booking(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    shipment_id = await open_shipment(sh, order_id)
    await sh.deliver(
        "shipment-created",
        {
            "shipmentId": shipment_id,
            "orderId": str(order_id),
            "trackingNumber": "TRK-0001",
            "carrier": "carrier",
            "estimatedDelivery": "2030-01-04",
            "createdAt": "2030-01-01T13:00:00Z",
        },
    )
    row = await wait_status(sh, order_id, "CREATED")
    assert (row["tracking_number"], row["carrier"], row["estimated_delivery"]) == (
        "TRK-0001",
        "carrier",
        "2030-01-04",
    )


async def test_shipment_delivered_is_final(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    shipment_id = await open_shipment(sh, order_id)
    await sh.deliver(
        "shipment-delivered",
        {
            "shipmentId": shipment_id,
            "orderId": str(order_id),
            "deliveredAt": "2030-01-03T10:00:00Z",
            "signedBy": "G. Hopper",
        },
    )
    row = await wait_status(sh, order_id, "DELIVERED")
    assert row["signed_by"] == "G. Hopper"
    assert row["delivered_at"] == datetime(2030, 1, 3, 10, tzinfo=UTC)

    # A late shipment-created fills the tracking number but does not reopen the shipment,
    # and a late failure does not undo the delivery.
    await sh.deliver(
        "shipment-created",
        {
            "shipmentId": shipment_id,
            "orderId": str(order_id),
            "trackingNumber": "TRK-LATE",
            "createdAt": "2030-01-01T13:00:00Z",
        },
    )
    await sh.deliver(
        "shipment-failed",
        {
            "shipmentId": shipment_id,
            "orderId": str(order_id),
            "reason": "LOST",
            "failedAt": "2030-01-03T11:00:00Z",
        },
    )
    await eventually(
        lambda: shipment(sh, order_id),
        lambda r: r is not None and r["tracking_number"] == "TRK-LATE",
    )
    await sh.quiet(0.3)
    final = await shipment(sh, order_id)
    assert final is not None
    assert final["status"] == "DELIVERED"
    assert final["failure_reason"] is None


async def test_shipment_failed_records_the_reason_and_is_final(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    shipment_id = await open_shipment(sh, order_id)
    ids = {"shipmentId": shipment_id, "orderId": str(order_id)}
    await sh.deliver(
        "shipment-created",
        {**ids, "trackingNumber": "TRK-2", "createdAt": "2030-01-01T13:00:00Z"},
    )
    await wait_status(sh, order_id, "CREATED")
    await sh.deliver(
        "shipment-failed",
        {**ids, "reason": "RETURNED_TO_SENDER", "failedAt": "2030-01-03T11:00:00Z"},
    )
    row = await wait_status(sh, order_id, "FAILED")
    assert row["failure_reason"] == "RETURNED_TO_SENDER"
    assert row["tracking_number"] == "TRK-2"

    await sh.deliver("shipment-delivered", {**ids, "deliveredAt": "2030-01-04T10:00:00Z"})
    await sh.quiet(0.3)
    final = await shipment(sh, order_id)
    assert final is not None
    assert (final["status"], final["delivered_at"]) == ("FAILED", None)


@pytest.mark.parametrize(
    "message_id", ["shipment-created", "shipment-delivered", "shipment-failed"]
)
async def test_tracking_for_an_unknown_shipment_is_retried_then_dead_lettered(
    sh: SystemHarness, message_id: str
) -> None:
    ids = {"shipmentId": str(uuid.uuid4()), "orderId": str(uuid.uuid4())}
    extra = {
        "shipment-created": {"trackingNumber": "T", "createdAt": "2030-01-01T13:00:00Z"},
        "shipment-delivered": {"deliveredAt": "2030-01-01T13:00:00Z"},
        "shipment-failed": {"reason": "LOST", "failedAt": "2030-01-01T13:00:00Z"},
    }[message_id]
    wire_id = await sh.deliver(message_id, {**ids, **extra})
    letters = await eventually(
        lambda: sh.rows(
            "runtime",
            "SELECT service, attempts, error FROM dead_letters WHERE message_id = :m",
            m=wire_id,
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["service"] == "shipping-api"
    assert letters[0]["attempts"] == 3
    assert "unknown shipment" in letters[0]["error"]


async def test_tracking_event_for_another_order_is_rejected(sh: SystemHarness) -> None:
    order_id = uuid.uuid4()
    shipment_id = await open_shipment(sh, order_id)
    wire_id = await sh.deliver(
        "shipment-delivered",
        {
            "shipmentId": shipment_id,
            "orderId": str(uuid.uuid4()),
            "deliveredAt": "2030-01-03T10:00:00Z",
        },
    )
    letters = await eventually(
        lambda: sh.rows(
            "runtime", "SELECT attempts, error FROM dead_letters WHERE message_id = :m", m=wire_id
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["attempts"] == 1  # permanent: not retried
    assert "belongs to order" in letters[0]["error"]
    row = await shipment(sh, order_id)
    assert row is not None and row["status"] == "REQUESTED"


async def test_redelivered_shipment_requested_books_once(sh: SystemHarness) -> None:
    shipment_id, order_id = uuid.uuid4(), uuid.uuid4()
    request = {
        "shipmentId": str(shipment_id),
        "orderId": str(order_id),
        "parcelCount": 1,
        "destination": {"line1": "1 Road", "city": "Cork", "postcode": "T12", "country": "IE"},
        "service": "EXPRESS",
        "requestedAt": "2030-01-01T12:00:00Z",
    }
    await sh.deliver("shipment-requested", request)
    await sh.deliver("shipment-requested", request)
    booking = await sent_once(sh, "create-shipment", for_order(order_id))
    await sh.quiet(0.4)
    assert len(sent(sh, "create-shipment")) == 1
    assert booking.body["service"] == "EXPRESS"
    assert booking.body["shipmentId"] == str(shipment_id)
