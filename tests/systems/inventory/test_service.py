"""The Inventory System running in-process on embedded NATS: every received message, every
HTTP operation, the expiry sweep and 100 concurrent reservations for one unit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from acme.systems.inventory import store
from acme.systems.inventory.handlers import ExpirySweep
from acme.systems.inventory.settings import InventorySettings
from tests.systems.harness import SystemHarness, running_system

T = TypeVar("T")
HOST = "inventory-system"
DB = "inventory-database"


class FakeClock:
    """Stands still until `advance` moves it (the runtime takes `clock=`)."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Poll `probe()` until `check` holds; fail with the last value seen."""
    value = await probe()
    try:
        async with asyncio.timeout(timeout):
            while not check(value):
                await asyncio.sleep(0.05)
                value = await probe()
    except TimeoutError:
        raise AssertionError(f"not reached within {timeout}s; last value: {value!r}") from None
    return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def inv(tmp_path: Path, nats_url: str, clock: FakeClock) -> AsyncIterator[SystemHarness]:
    async with running_system(HOST, data_dir=tmp_path, nats_url=nats_url, clock=clock) as h:
        yield h


def new_id() -> str:
    return str(uuid.uuid4())


async def set_stock(h: SystemHarness, product_id: str, available: int) -> dict[str, Any]:
    response = await h.client.put(
        f"/stock/{product_id}",
        json={"productId": product_id, "available": available},
        headers=h.auth(admin=True),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stock_of(h: SystemHarness, product_id: str) -> store.StockRow:
    async with h.app.store(DB).connect() as conn:
        row = await store.get_stock(conn, product_id)
    assert row is not None
    return row


async def reservation(h: SystemHarness, reservation_id: str) -> store.Reservation:
    async with h.app.store(DB).connect() as conn:
        found = await store.reservation_by_id(conn, reservation_id)
    assert found is not None
    return found


def assert_invariant(row: store.StockRow) -> None:
    assert row.available + row.reserved + row.sold == row.restocked


def reserve_payload(checkout_id: str, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "cartId": new_id(),
        "checkoutId": checkout_id,
        "orderId": new_id(),
        "items": [{"productId": p, "quantity": q} for p, q in lines],
    }


async def reserve(h: SystemHarness, *lines: tuple[str, int]) -> tuple[str, dict[str, Any]]:
    """Reserve and return (checkoutId, the inventory-reserved body)."""
    checkout_id = new_id()
    payload = reserve_payload(checkout_id, *lines)
    await h.deliver("reserve-inventory", payload)
    (answer,) = await h.published(
        "inventory-reserved", where=lambda b: b.get("checkoutId") == checkout_id
    )
    assert answer.body["orderId"] == payload["orderId"]
    return checkout_id, answer.body


# -- reserve-inventory ---------------------------------------------------------------------


async def test_reserve_holds_every_line(inv: SystemHarness, clock: FakeClock) -> None:
    a, b = new_id(), new_id()
    await set_stock(inv, a, 5)
    await set_stock(inv, b, 2)
    _, body = await reserve(inv, (a, 2), (b, 2))
    assert sorted((i["productId"], i["quantity"]) for i in body["items"]) == sorted(
        [(a, 2), (b, 2)]
    )
    row_a, row_b = await stock_of(inv, a), await stock_of(inv, b)
    assert (row_a.available, row_a.reserved) == (3, 2)
    assert (row_b.available, row_b.reserved) == (0, 2)
    held = await reservation(inv, body["reservationId"])
    assert held.status == "HELD"
    assert held.expires_at == clock.now + timedelta(minutes=15)


async def test_reserve_is_all_or_nothing(inv: SystemHarness) -> None:
    a, b, unknown = new_id(), new_id(), new_id()
    await set_stock(inv, a, 5)
    await set_stock(inv, b, 1)
    checkout_id = new_id()
    await inv.deliver(
        "reserve-inventory", reserve_payload(checkout_id, (a, 2), (b, 3), (unknown, 1))
    )
    (answer,) = await inv.published("inventory-unavailable")
    assert answer.body["checkoutId"] == checkout_id
    short = {
        i["productId"]: (i["requested"], i["available"]) for i in answer.body["unavailableItems"]
    }
    assert short == {b: (3, 1), unknown: (1, 0)}
    # The line that could be met was not held either.
    assert (await stock_of(inv, a)).available == 5
    assert (await stock_of(inv, a)).reserved == 0
    assert inv.seen("inventory-reserved") == []


async def test_a_quantity_no_stock_row_can_hold_is_reported_short(inv: SystemHarness) -> None:
    a, b = new_id(), new_id()
    await set_stock(inv, a, 5)
    await set_stock(inv, b, 5)
    checkout_id = new_id()
    await inv.deliver("reserve-inventory", reserve_payload(checkout_id, (a, 10**12), (b, 1)))
    (answer,) = await inv.published("inventory-unavailable")
    assert answer.body["unavailableItems"] == [
        {"productId": a, "requested": 10**12, "available": 5}
    ]
    assert (await stock_of(inv, b)).reserved == 0


async def test_same_checkout_twice_gets_the_same_reservation(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    checkout_id = new_id()
    payload = reserve_payload(checkout_id, (a, 2))
    await inv.deliver("reserve-inventory", payload)
    await inv.deliver("reserve-inventory", payload)  # a new message id: not an inbox duplicate
    first = await inv.published("inventory-reserved")
    await inv.quiet()
    answers = inv.seen("inventory-reserved")
    assert {c.body["reservationId"] for c in answers} == {first[0].body["reservationId"]}
    # Re-sent under the same message id, so the saga's inbox drops the copy.
    assert len({c.headers["message-id"] for c in answers}) == 1
    assert (await stock_of(inv, a)).reserved == 2


async def test_redelivered_message_has_no_second_effect(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    payload = reserve_payload(new_id(), (a, 1))
    payload.pop("checkoutId")  # no business key: only the inbox protects it
    wire_id = new_id()
    await inv.deliver("reserve-inventory", payload, id=wire_id)
    await inv.published("inventory-reserved")
    await inv.deliver("reserve-inventory", payload, id=wire_id)
    await inv.quiet()
    assert len(inv.seen("inventory-reserved")) == 1
    assert (await stock_of(inv, a)).reserved == 1


async def test_hundred_concurrent_reservations_for_one_unit_reserve_exactly_one(
    inv: SystemHarness,
) -> None:
    a = new_id()
    await set_stock(inv, a, 1)
    await asyncio.gather(
        *(inv.deliver("reserve-inventory", reserve_payload(new_id(), (a, 1))) for _ in range(100))
    )
    await inv.published("inventory-unavailable", count=99, timeout=90)
    reserved = await inv.published("inventory-reserved", count=1)
    await inv.quiet()
    assert len(inv.seen("inventory-reserved")) == 1
    assert len(inv.seen("inventory-unavailable")) == 99
    row = await stock_of(inv, a)
    assert (row.available, row.reserved, row.sold) == (0, 1, 0)
    assert_invariant(row)
    assert (await reservation(inv, reserved[0].body["reservationId"])).status == "HELD"


# -- release-inventory ---------------------------------------------------------------------


async def test_release_returns_the_units_once(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 4)
    _, body = await reserve(inv, (a, 3))
    release = {"reservationId": body["reservationId"], "reason": "CHECKOUT_FAILED"}
    await inv.deliver("release-inventory", release)
    await eventually(lambda: stock_of(inv, a), lambda r: r.available == 4)
    await inv.deliver("release-inventory", release)  # compensation retried: no-op
    await inv.quiet()
    row = await stock_of(inv, a)
    assert (row.available, row.reserved) == (4, 0)
    released = await reservation(inv, body["reservationId"])
    assert (released.status, released.release_reason) == ("RELEASED", "CHECKOUT_FAILED")


async def test_release_of_an_unknown_reservation_is_acknowledged(inv: SystemHarness) -> None:
    await inv.deliver("release-inventory", {"reservationId": new_id()})
    await eventually(lambda: _handled(inv), lambda n: n >= 1)
    assert _count(inv, "dead") == 0


def _count(h: SystemHarness, outcome: str) -> int:
    counts = h.app.consumers["inventory-service"].counts
    return sum(n for o, n in counts.items() if o.value == outcome)


async def _handled(h: SystemHarness) -> int:
    return _count(h, "handled")


# -- order-confirmed -----------------------------------------------------------------------


def confirmed(order_id: str, reservation_id: str | None) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "customerId": new_id(),
        "confirmationNumber": "ORD-00000001",
        "inventoryReservationId": reservation_id,
        "total": 1000,
        "currency": "EUR",
        "confirmedAt": "2030-01-01T12:00:00Z",
    }


async def test_order_confirmed_consumes_the_hold(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, body = await reserve(inv, (a, 2))
    await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
    row = await eventually(lambda: stock_of(inv, a), lambda r: r.sold == 2)
    assert (row.available, row.reserved, row.sold) == (3, 0, 2)
    assert_invariant(row)
    assert (await reservation(inv, body["reservationId"])).status == "CONSUMED"
    # Redelivered under a new id: the reservation is already consumed, nothing moves.
    await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
    await inv.quiet()
    assert await stock_of(inv, a) == row


async def test_order_confirmed_finds_the_reservation_by_order(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, body = await reserve(inv, (a, 1))
    await inv.deliver("order-confirmed", confirmed(body["orderId"], None))
    await eventually(lambda: stock_of(inv, a), lambda r: r.sold == 1)


async def test_order_confirmed_after_expiry_retakes_free_units(
    inv: SystemHarness, clock: FakeClock
) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, body = await reserve(inv, (a, 2))
    clock.advance(16 * 60)
    await _sweep(inv)
    assert (await reservation(inv, body["reservationId"])).release_reason == "EXPIRED"
    await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
    row = await eventually(lambda: stock_of(inv, a), lambda r: r.sold == 2)
    assert (row.available, row.reserved) == (3, 0)
    assert (await reservation(inv, body["reservationId"])).status == "CONSUMED"


async def test_order_confirmed_after_expiry_without_stock_is_logged_as_oversell(
    inv: SystemHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    a = new_id()
    await set_stock(inv, a, 2)
    _, body = await reserve(inv, (a, 2))
    clock.advance(16 * 60)
    await _sweep(inv)
    _, other = await reserve(inv, (a, 2))  # someone else took the released units
    with caplog.at_level("ERROR", logger="acme.inventory"):
        await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
        await eventually(lambda: _handled(inv), lambda n: n >= 3)
    assert "OVERSELL" in caplog.text
    row = await stock_of(inv, a)
    assert (row.available, row.reserved, row.sold) == (0, 2, 0)
    assert (await reservation(inv, body["reservationId"])).status == "RELEASED"


# -- order-cancelled -----------------------------------------------------------------------


def cancelled(order_id: str) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "reason": "CUSTOMER_REQUESTED",
        "cancelledAt": "2030-01-01T13:00:00Z",
    }


async def test_order_cancelled_after_confirmation_returns_sold_units(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, body = await reserve(inv, (a, 2))
    await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
    await eventually(lambda: stock_of(inv, a), lambda r: r.sold == 2)
    await inv.deliver("order-cancelled", cancelled(body["orderId"]))
    row = await eventually(lambda: stock_of(inv, a), lambda r: r.available == 5)
    assert (row.reserved, row.sold, row.restocked) == (0, 0, 5)
    done = await reservation(inv, body["reservationId"])
    assert (done.status, done.release_reason) == ("RELEASED", "ORDER_CANCELLED")
    await inv.deliver("order-cancelled", cancelled(body["orderId"]))  # again: nothing more
    await inv.quiet()
    assert (await stock_of(inv, a)).available == 5


async def test_order_cancelled_while_held_releases_the_hold(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, body = await reserve(inv, (a, 2))
    await inv.deliver("order-cancelled", cancelled(body["orderId"]))
    row = await eventually(lambda: stock_of(inv, a), lambda r: r.available == 5)
    assert row.reserved == 0
    # A late order-confirmed for the cancelled order does not take the units again.
    await inv.deliver("order-confirmed", confirmed(body["orderId"], body["reservationId"]))
    await inv.quiet()
    assert (await stock_of(inv, a)).sold == 0


# -- expiry --------------------------------------------------------------------------------


async def _sweep(h: SystemHarness) -> int:
    return await ExpirySweep(h.app, InventorySettings())()


async def test_sweep_releases_only_expired_holds(inv: SystemHarness, clock: FakeClock) -> None:
    a = new_id()
    await set_stock(inv, a, 5)
    _, old = await reserve(inv, (a, 1))
    clock.advance(10 * 60)
    _, young = await reserve(inv, (a, 1))
    clock.advance(6 * 60)  # old is 16 minutes old, young 6
    assert await _sweep(inv) == 1
    assert (await reservation(inv, old["reservationId"])).release_reason == "EXPIRED"
    assert (await reservation(inv, young["reservationId"])).status == "HELD"
    row = await stock_of(inv, a)
    assert (row.available, row.reserved) == (4, 1)
    assert await _sweep(inv) == 0


async def test_expiry_runs_by_itself(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_INVENTORY_SWEEP_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("ACME_INVENTORY_HOLD_SECONDS", "0.3")
    async with running_system(HOST, data_dir=tmp_path, nats_url=nats_url) as h:
        a = new_id()
        await set_stock(h, a, 3)
        _, body = await reserve(h, (a, 2))
        released = await eventually(
            lambda: reservation(h, body["reservationId"]), lambda r: r.status == "RELEASED"
        )
        assert released.release_reason == "EXPIRED"
        assert (await stock_of(h, a)).available == 3


# -- HTTP ----------------------------------------------------------------------------------


async def test_get_stock_level(inv: SystemHarness) -> None:
    a = new_id()
    await set_stock(inv, a, 7)
    await reserve(inv, (a, 2))
    response = await inv.client.get(f"/stock/{a}", headers=inv.auth(admin=True))
    assert response.status_code == 200
    assert response.json() == {"productId": a, "available": 5, "reserved": 2}


async def test_set_stock_level_creates_then_adjusts(inv: SystemHarness) -> None:
    a = new_id()
    assert await set_stock(inv, a, 10) == {"productId": a, "available": 10, "reserved": 0}
    await reserve(inv, (a, 4))
    assert await set_stock(inv, a, 3) == {"productId": a, "available": 3, "reserved": 4}
    row = await stock_of(inv, a)
    assert (row.restocked, row.sold) == (7, 0)
    assert_invariant(row)


async def test_unknown_product_is_404(inv: SystemHarness) -> None:
    response = await inv.client.get(f"/stock/{new_id()}", headers=inv.auth(admin=True))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_stock_needs_a_token_and_the_admin_role(inv: SystemHarness, method: str) -> None:
    a = new_id()
    body = {"productId": a, "available": 1}
    anonymous = await inv.client.request(method, f"/stock/{a}", json=body)
    assert anonymous.status_code == 401
    shopper = await inv.client.request(method, f"/stock/{a}", json=body, headers=inv.auth())
    assert shopper.status_code == 403


async def test_set_stock_with_another_product_in_the_body_is_400(inv: SystemHarness) -> None:
    a = new_id()
    response = await inv.client.put(
        f"/stock/{a}", json={"productId": new_id(), "available": 1}, headers=inv.auth(admin=True)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "id_mismatch"


@pytest.mark.parametrize(
    "body",
    [
        {"available": 1},
        {"productId": "x", "available": 1},
        {"productId": "00000000-0000-4000-8000-000000000001", "available": -1},
        {"productId": "00000000-0000-4000-8000-000000000001", "available": 1, "extra": 1},
        {"productId": "00000000-0000-4000-8000-000000000001", "available": 2**31},
    ],
)
async def test_invalid_stock_bodies_are_422(inv: SystemHarness, body: dict[str, Any]) -> None:
    response = await inv.client.put(
        "/stock/00000000-0000-4000-8000-000000000001", json=body, headers=inv.auth(admin=True)
    )
    assert response.status_code == 422


async def test_invalid_product_id_in_path_is_422(inv: SystemHarness) -> None:
    response = await inv.client.get("/stock/not-a-uuid", headers=inv.auth(admin=True))
    assert response.status_code == 422
