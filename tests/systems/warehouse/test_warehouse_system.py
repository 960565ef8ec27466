"""warehouse-system on the real runtime: every message warehouse-service and picking-worker
receive, the picking time driven by an injected clock, redelivery and out-of-order events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from acme.systems.warehouse.domain import PickingClock
from acme.systems.warehouse.handlers import job_id_for
from tests.systems.harness import SystemHarness, running_system
from tests.systems.probes import FakeClock, eventually, sent, sent_once

DELAY_MIN, DELAY_MAX, SEED = 10.0, 20.0, 3


@pytest.fixture
async def wh(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SystemHarness, FakeClock]]:
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_DELAY_MIN", str(DELAY_MIN))
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_DELAY_MAX", str(DELAY_MAX))
    monkeypatch.setenv("ACME_WAREHOUSE_PICKING_SEED", str(SEED))
    monkeypatch.setenv("ACME_WAREHOUSE_POLL_INTERVAL", "0.05")
    clock = FakeClock()
    async with running_system(
        "warehouse-system", data_dir=tmp_path, nats_url=nats_url, clock=clock
    ) as harness:
        yield harness, clock


def confirmed(order_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "orderId": str(order_id),
        "customerId": str(uuid.uuid4()),
        "confirmationNumber": "ORD-00000042",
        "inventoryReservationId": "res-1",
        "total": 4999,
        "currency": "EUR",
        "confirmedAt": "2030-01-01T11:59:00Z",
        "items": [
            {"productId": str(uuid.uuid4()), "quantity": 12},
            {"productId": str(uuid.uuid4()), "quantity": 3},
        ],
        "deliveryAddress": {
            "recipientName": "Ada Lovelace",
            "line1": "12 St James's Square",
            "city": "London",
            "postalCode": "SW1Y 4JH",
            "countryCode": "GB",
        },
    }
    payload.update(changes)
    return payload


def for_order(order_id: uuid.UUID) -> Any:
    return lambda body: body.get("orderId") == str(order_id)


async def job(h: SystemHarness, order_id: uuid.UUID) -> dict[str, Any] | None:
    rows = await h.rows(
        "warehouse-database", "SELECT * FROM picking_jobs WHERE order_id = :o", o=order_id.hex
    )
    return rows[0] if rows else None


async def job_status(h: SystemHarness, order_id: uuid.UUID) -> str | None:
    found = await job(h, order_id)
    return None if found is None else str(found["status"])


async def wait_status(h: SystemHarness, order_id: uuid.UUID, status: str) -> dict[str, Any]:
    await eventually(lambda: job_status(h, order_id), lambda s: s == status)
    found = await job(h, order_id)
    assert found is not None
    return found


async def confirm_and_start(
    h: SystemHarness, order_id: uuid.UUID, **changes: Any
) -> dict[str, Any]:
    await h.deliver("order-confirmed", confirmed(order_id, **changes))
    return await wait_status(h, order_id, "PICKING")


async def test_order_confirmed_creates_the_job_and_starts_picking(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    payload = confirmed(order_id)
    await h.deliver("order-confirmed", payload)

    command = await sent_once(h, "start-picking", for_order(order_id))
    job_id = job_id_for(order_id)
    assert command.body["pickingJobId"] == str(job_id)
    assert {(i["productId"], i["quantity"]) for i in command.body["items"]} == {
        (i["productId"], i["quantity"]) for i in payload["items"]
    }
    assert command.subject == "fulfilment.commands.start-picking"

    row = await wait_status(h, order_id, "PICKING")
    assert row["job_id"] == job_id
    assert (row["line1"], row["city"], row["postcode"], row["country"]) == (
        "12 St James's Square",
        "London",
        "SW1Y 4JH",
        "GB",
    )
    assert row["recipient_name"] == "Ada Lovelace"
    assert row["reservation_id"] == "res-1"
    assert row["assigned_to"] == "picking-worker"
    items = await h.rows(
        "warehouse-database",
        "SELECT product_id, quantity, picked FROM picking_job_items WHERE job_id = :j",
        j=job_id.hex,
    )
    assert sorted(i["quantity"] for i in items) == [3, 12]
    assert not any(i["picked"] for i in items)
    # The picking time is the seeded delay of this job, measured from the injected clock.
    expected = PickingClock(DELAY_MIN, DELAY_MAX, SEED).due_at(job_id, clock.now)
    assert row["picking_due_at"] == expected


async def test_picking_finishes_only_when_the_clock_passes_the_due_time(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    delay = PickingClock(DELAY_MIN, DELAY_MAX, SEED).delay(job_id_for(order_id))

    clock.advance(delay - 0.5)
    await h.quiet(0.4)
    assert not sent(h, "order-packed")
    assert await job_status(h, order_id) == "PICKING"

    clock.advance(1.0)
    packed = await sent_once(h, "order-packed", for_order(order_id))
    assert packed.body["pickingJobId"] == str(job_id_for(order_id))
    assert packed.body["parcelCount"] == 2  # 15 units, ten per parcel

    # warehouse-service receives the worker's order-packed: job PACKED, ready for shipping.
    ready = await sent_once(h, "order-ready-for-shipping", for_order(order_id))
    assert ready.body["parcelCount"] == 2
    assert ready.body["shippingAddress"] == {
        "recipientName": "Ada Lovelace",
        "line1": "12 St James's Square",
        "city": "London",
        "postcode": "SW1Y 4JH",
        "country": "GB",
    }
    row = await wait_status(h, order_id, "PACKED")
    assert row["parcel_count"] == 2
    assert row["ready_for_shipping_at"] is not None
    picked = await h.rows(
        "warehouse-database",
        "SELECT picked FROM picking_job_items WHERE job_id = :j",
        j=job_id_for(order_id).hex,
    )
    assert all(p["picked"] for p in picked)

    # Later polls send nothing more.
    clock.advance(60)
    await h.quiet(0.3)
    assert len(sent(h, "order-packed")) == 1
    assert len(sent(h, "order-ready-for-shipping")) == 1


async def test_redelivered_order_confirmed_creates_one_job(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, _ = wh
    order_id = uuid.uuid4()
    payload = confirmed(order_id)
    await h.deliver("order-confirmed", payload)
    await sent_once(h, "start-picking", for_order(order_id))
    await h.deliver("order-confirmed", payload)  # a new message id, same order
    await h.quiet(0.4)
    assert len(sent(h, "start-picking")) == 1
    jobs = await h.rows(
        "warehouse-database", "SELECT job_id FROM picking_jobs WHERE order_id = :o", o=order_id.hex
    )
    assert len(jobs) == 1


async def test_order_confirmed_without_items_is_dead_lettered(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, _ = wh
    order_id = uuid.uuid4()
    message_id = await h.deliver("order-confirmed", confirmed(order_id, items=None))
    letters = await eventually(
        lambda: h.rows(
            "runtime",
            "SELECT service, error FROM dead_letters WHERE message_id = :m",
            m=message_id,
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["service"] == "warehouse-service"
    assert "has no items" in letters[0]["error"]
    assert await job(h, order_id) is None


async def test_order_cancelled_before_packing_cancels_and_nothing_is_packed(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    await h.deliver(
        "order-cancelled",
        {
            "orderId": str(order_id),
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T12:00:00Z",
        },
    )
    await wait_status(h, order_id, "CANCELLED")
    clock.advance(DELAY_MAX + 1)
    await h.quiet(0.4)
    assert not sent(h, "order-packed")
    assert await job_status(h, order_id) == "CANCELLED"


async def test_order_cancelled_after_packing_changes_nothing(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    clock.advance(DELAY_MAX + 1)
    await wait_status(h, order_id, "PACKED")
    await h.deliver(
        "order-cancelled",
        {
            "orderId": str(order_id),
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T12:00:00Z",
        },
    )
    await h.quiet(0.4)
    assert await job_status(h, order_id) == "PACKED"


async def test_order_completed_closes_the_job(wh: tuple[SystemHarness, FakeClock]) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    clock.advance(DELAY_MAX + 1)
    await wait_status(h, order_id, "PACKED")
    completed = {
        "orderId": str(order_id),
        "customerId": str(uuid.uuid4()),
        "completedAt": "2030-01-02T12:00:00Z",
    }
    await h.deliver("order-completed", completed)
    await wait_status(h, order_id, "CLOSED")
    await h.deliver("order-completed", completed)  # redelivery: still closed, no error
    await h.quiet(0.3)
    assert await job_status(h, order_id) == "CLOSED"


async def test_order_completed_does_not_reopen_a_cancelled_job(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, _ = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    await h.deliver(
        "order-cancelled",
        {"orderId": str(order_id), "reason": "FRAUD", "cancelledAt": "2030-01-01T12:00:00Z"},
    )
    await wait_status(h, order_id, "CANCELLED")
    await h.deliver(
        "order-completed",
        {
            "orderId": str(order_id),
            "customerId": str(uuid.uuid4()),
            "completedAt": "2030-01-02T12:00:00Z",
        },
    )
    await h.quiet(0.3)
    assert await job_status(h, order_id) == "CANCELLED"


def address_changed(order_id: uuid.UUID, revision: int, **address: str) -> dict[str, Any]:
    return {
        "orderId": str(order_id),
        "addressRevision": revision,
        "previousPostalCode": "SW1Y 4JH",
        "deliveryAddress": address,
        "changedBy": "customer",
        "changedAt": "2030-01-01T12:00:00Z",
    }


async def test_address_change_is_shipped_and_older_revisions_are_ignored(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    await h.deliver(
        "order-delivery-address-changed",
        address_changed(
            order_id, 3, recipientName="Ada King", line1="1 Ockham Lane", line2="Rear door",
            city="Ockham", postalCode="GU23 6NN", countryCode="GB",
        ),
    )  # fmt: skip
    await eventually(
        lambda: job(h, order_id), lambda r: r is not None and r["address_revision"] == 3
    )
    # A late, older change does not overwrite the newer one.
    await h.deliver(
        "order-delivery-address-changed",
        address_changed(order_id, 2, line1="2 Stale Street", city="Bath", postalCode="BA1 1AA"),
    )
    await h.quiet(0.3)
    row = await job(h, order_id)
    assert row is not None
    assert (row["line1"], row["line2"], row["city"], row["postcode"], row["address_revision"]) == (
        "1 Ockham Lane",
        "Rear door",
        "Ockham",
        "GU23 6NN",
        3,
    )

    clock.advance(DELAY_MAX + 1)
    ready = await sent_once(h, "order-ready-for-shipping", for_order(order_id))
    assert ready.body["shippingAddress"] == {
        "recipientName": "Ada King",
        "line1": "1 Ockham Lane",
        "line2": "Rear door",
        "city": "Ockham",
        "postcode": "GU23 6NN",
        "country": "GB",
    }


async def test_address_change_after_packing_is_ignored(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    clock.advance(DELAY_MAX + 1)
    await wait_status(h, order_id, "PACKED")
    await h.deliver(
        "order-delivery-address-changed",
        address_changed(order_id, 2, line1="9 Late Road", city="York", postalCode="YO1 7HH"),
    )
    await h.quiet(0.3)
    row = await job(h, order_id)
    assert row is not None
    assert (row["line1"], row["address_revision"]) == ("12 St James's Square", 1)


async def test_order_packed_is_announced_once_and_never_for_a_cancelled_job(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, _ = wh
    shipped, cancelled = uuid.uuid4(), uuid.uuid4()
    await confirm_and_start(h, shipped)
    await confirm_and_start(h, cancelled)
    await h.deliver(
        "order-cancelled",
        {
            "orderId": str(cancelled),
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T12:00:00Z",
        },
    )
    await wait_status(h, cancelled, "CANCELLED")

    # order-packed from the floor (e.g. a scanner), twice for one order, once for the other.
    packed = {"orderId": str(shipped), "parcelCount": 4, "packedAt": "2030-01-01T12:05:00Z"}
    await h.deliver("order-packed", packed)
    await h.deliver("order-packed", packed)
    await h.deliver(
        "order-packed",
        {"orderId": str(cancelled), "parcelCount": 1, "packedAt": "2030-01-01T12:05:00Z"},
    )
    ready = await sent_once(h, "order-ready-for-shipping", for_order(shipped))
    assert ready.body["parcelCount"] == 4
    row = await wait_status(h, shipped, "PACKED")
    assert row["parcel_count"] == 4
    await eventually(lambda: job(h, cancelled), lambda r: r is not None and r["parcel_count"] == 1)
    await h.quiet(0.3)
    assert len(sent(h, "order-ready-for-shipping")) == 1
    assert await job_status(h, cancelled) == "CANCELLED"


async def test_start_picking_for_a_cancelled_job_picks_nothing(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    await confirm_and_start(h, order_id)
    await h.deliver(
        "order-cancelled",
        {"orderId": str(order_id), "reason": "OUT_OF_STOCK", "cancelledAt": "2030-01-01T12:00:00Z"},
    )
    await wait_status(h, order_id, "CANCELLED")
    job_id = job_id_for(order_id)
    await h.deliver(
        "start-picking",
        {
            "pickingJobId": str(job_id),
            "orderId": str(order_id),
            "items": [{"productId": str(uuid.uuid4()), "quantity": 1}],
        },
    )
    clock.advance(DELAY_MAX + 1)
    await h.quiet(0.4)
    assert await job_status(h, order_id) == "CANCELLED"
    assert not sent(h, "order-packed")


async def test_redelivered_start_picking_keeps_the_drawn_time(
    wh: tuple[SystemHarness, FakeClock],
) -> None:
    h, clock = wh
    order_id = uuid.uuid4()
    row = await confirm_and_start(h, order_id)
    command = await sent_once(h, "start-picking", for_order(order_id))
    clock.advance(5)
    await h.deliver("start-picking", command.body)
    await h.quiet(0.3)
    again = await job(h, order_id)
    assert again is not None
    assert again["picking_due_at"] == row["picking_due_at"]


@pytest.mark.parametrize("message_id", ["order-cancelled", "order-completed", "order-packed"])
async def test_events_for_an_order_without_job_are_retried_then_dead_lettered(
    wh: tuple[SystemHarness, FakeClock], message_id: str
) -> None:
    h, _ = wh
    order_id = str(uuid.uuid4())
    at = "2030-01-01T12:00:00Z"
    payloads = {
        "order-cancelled": {"orderId": order_id, "reason": "FRAUD", "cancelledAt": at},
        "order-completed": {"orderId": order_id, "customerId": order_id, "completedAt": at},
        "order-packed": {"orderId": order_id, "packedAt": at},
    }
    wire_id = await h.deliver(message_id, payloads[message_id])
    letters = await eventually(
        lambda: h.rows(
            "runtime", "SELECT attempts, error FROM dead_letters WHERE message_id = :m", m=wire_id
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["attempts"] == 3  # ACME_MAX_ATTEMPTS of the harness: it was retried
    assert order_id in letters[0]["error"]
