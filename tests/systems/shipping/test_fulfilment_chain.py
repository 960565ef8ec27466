"""Warehouse, shipping and the carrier simulator together on one broker and one clock: a
confirmed order is picked, packed, booked and delivered (or fails) with no test in between."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.systems.harness import running_system
from tests.systems.probes import FakeClock, eventually, sent_once


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in {
        "ACME_WAREHOUSE_PICKING_DELAY_MIN": "60",
        "ACME_WAREHOUSE_PICKING_DELAY_MAX": "120",
        "ACME_WAREHOUSE_POLL_INTERVAL": "0.05",
        "ACME_CARRIER_CREATED_DELAY": "600",
        "ACME_CARRIER_DELIVERY_DELAY": "86400",
        "ACME_CARRIER_POLL_INTERVAL": "0.05",
        "ACME_CARRIER_SEED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def order_confirmed(order_id: uuid.UUID) -> dict[str, Any]:
    return {
        "orderId": str(order_id),
        "customerId": str(uuid.uuid4()),
        "confirmationNumber": "ORD-12345678",
        "total": 1200,
        "currency": "EUR",
        "confirmedAt": "2030-01-01T12:00:00Z",
        "items": [{"productId": str(uuid.uuid4()), "quantity": 3}],
        "deliveryAddress": {
            "recipientName": "Emmy Noether",
            "line1": "Bunsenstrasse 3",
            "city": "Göttingen",
            "postalCode": "37073",
            "countryCode": "DE",
        },
    }


@pytest.mark.parametrize(("failure_rate", "final"), [("0", "DELIVERED"), ("1", "FAILED")])
async def test_confirmed_order_reaches_its_final_shipment_state(
    nats_url: str, tmp_path: Path, fast: pytest.MonkeyPatch, failure_rate: str, final: str
) -> None:
    fast.setenv("ACME_CARRIER_FAILURE_RATE", failure_rate)
    clock = FakeClock()
    order_id = uuid.uuid4()
    mine = lambda body: body.get("orderId") == str(order_id)  # noqa: E731
    async with (
        running_system(
            "carrier", data_dir=tmp_path / "c", nats_url=nats_url, clock=clock
        ) as carrier,
        running_system(
            "shipping-system", data_dir=tmp_path / "s", nats_url=nats_url, clock=clock
        ) as shipping,
        running_system(
            "warehouse-system", data_dir=tmp_path / "w", nats_url=nats_url, clock=clock
        ) as warehouse,
    ):
        await warehouse.deliver("order-confirmed", order_confirmed(order_id))
        await sent_once(warehouse, "start-picking", mine)
        await eventually(
            lambda: warehouse.rows(
                "warehouse-database",
                "SELECT status FROM picking_jobs WHERE order_id = :o",
                o=order_id.hex,
            ),
            lambda rows: rows == [{"status": "PICKING"}],
        )
        clock.advance(120)
        await sent_once(warehouse, "order-ready-for-shipping", mine)
        booking = await sent_once(warehouse, "create-shipment", mine)
        assert booking.body["destination"]["city"] == "Göttingen"

        await eventually(
            lambda: carrier.rows("runtime-carrier", "SELECT booked_at FROM carrier_bookings"),
            lambda rows: len(rows) == 1,
        )
        clock.advance(600)
        created = await sent_once(warehouse, "shipment-created", mine)
        assert created.body["shipmentId"] == booking.body["shipmentId"]
        clock.advance(86400)
        outcome = "shipment-delivered" if final == "DELIVERED" else "shipment-failed"
        await sent_once(warehouse, outcome, mine)

        # shipment-created and the outcome travel on subjects of their own, each taken by a
        # consumer of its own: a created handled after the outcome still fills in the tracking
        # number (store.fill_booking).
        rows = await eventually(
            lambda: shipping.rows(
                "shipping-database",
                "SELECT status, tracking_number FROM shipments WHERE order_id = :o",
                o=order_id.hex,
            ),
            lambda rows: (
                len(rows) == 1
                and rows[0]["status"] == final
                and rows[0]["tracking_number"] is not None
            ),
        )
        assert rows[0]["tracking_number"] == created.body["trackingNumber"]
        assert await warehouse.rows(
            "warehouse-database",
            "SELECT status, parcel_count FROM picking_jobs WHERE order_id = :o",
            o=order_id.hex,
        ) == [{"status": "PACKED", "parcel_count": 1}]
