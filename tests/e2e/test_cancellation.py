"""order-cancellation end to end: a paid order cancelled by its shopper or by staff is unwound
everywhere; an order being fulfilled, or someone else's, cannot be cancelled."""

from __future__ import annotations

import pytest

from acme.client import AcmeClient, ApiError
from benchmarks.embedded import RunningPlatform

from .helpers import (
    E2E,
    ShopperSession,
    StripeSandbox,
    checkout_cart,
    eventually,
    key,
    norm,
    order_row,
    order_statuses,
    payments_of,
    picking_job,
    reservations_of,
    rows,
    seed_product,
    stock_row,
)

pytestmark = E2E


async def test_cancelling_a_paid_order_returns_the_stock_and_refunds_the_payment(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=3000, stock=6)
    checkout, _ = await checkout_cart(shopper, product_id, 2)
    assert checkout.status == "COMPLETED", (checkout.failure_reason, checkout.failure_detail)

    # Picking takes seconds in this session (conftest), so the order has not reached FULFILLING.
    cancelled = await shopper.client.cancel_order(checkout.order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "CUSTOMER_REQUESTED")
    seen = await shopper.client.get_order(checkout.order_id)
    assert seen.status == "CANCELLED"

    # Inventory: the reservation is released and the two units are free to sell again.
    async def stock_returned() -> None:
        assert [
            (r["status"], r["release_reason"])
            for r in reservations_of(platform, checkout.checkout_id)
        ] == [("RELEASED", "ORDER_CANCELLED")]
        level = stock_row(platform, product_id)
        assert (level["available"], level["reserved"], level["sold"]) == (6, 0, 0)

    await eventually(stock_returned)

    # Payments and Stripe: one refund of the full amount, confirmed by Stripe's webhook.
    async def refunded() -> None:
        [payment] = payments_of(platform, checkout)
        assert payment["status"] == "REFUNDED"
        with platform.store("payment-database") as conn:
            refunds = rows(
                conn,
                f"SELECT amount_cents, status FROM refunds WHERE {norm('payment_id')} = ?",
                key(payment["payment_id"]),
            )
        assert refunds == [{"amount_cents": 6000, "status": "PROCESSED"}]
        _, counts = await stripe.intent(payment["processor_reference"])
        assert (counts["captures"], counts["refunds"], counts["amount_refunded"]) == (1, 1, 6000)

    await eventually(refunded)

    # Order store: cancelled with the reason, and the refund recorded in the history.
    async def refund_in_history() -> None:
        with platform.store("order-database") as conn:
            [order] = rows(
                conn,
                f"SELECT status, cancellation_reason FROM orders WHERE {norm('order_id')} = ?",
                key(checkout.order_id),
            )
            history = rows(
                conn,
                "SELECT entry_type, status, amount_cents FROM order_status_history "
                f"WHERE {norm('order_id')} = ? ORDER BY changed_at",
                key(checkout.order_id),
            )
        assert (order["status"], order["cancellation_reason"]) == (
            "CANCELLED",
            "CUSTOMER_REQUESTED",
        )
        assert "CANCELLED" in [h["status"] for h in history if h["entry_type"] == "STATUS"]
        assert [h["amount_cents"] for h in history if h["entry_type"] == "REFUND"] == [6000]

    await eventually(refund_in_history)


async def test_an_order_being_fulfilled_cannot_be_cancelled(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=1800, stock=3)
    checkout, _ = await checkout_cart(shopper, product_id, 1)
    assert checkout.status == "COMPLETED", (checkout.failure_reason, checkout.failure_detail)

    # Packed: the order is FULFILLING until the carrier reports (3 s at least, conftest).
    async def fulfilling() -> None:
        assert (await shopper.client.get_order(checkout.order_id)).status == "FULFILLING"

    await eventually(fulfilling, timeout=60.0)
    with pytest.raises(ApiError) as refused:
        await shopper.client.cancel_order(checkout.order_id)
    assert refused.value.status == 409
    assert "Cannot cancel" in refused.value.detail
    # Staff are held to the same policy.
    with pytest.raises(ApiError) as refused_staff:
        await admin.cancel_order(checkout.order_id, "FRAUD")
    assert refused_staff.value.status == 409

    # Nothing was unwound: no cancellation anywhere, the unit stays sold, no refund.
    order = order_row(platform, checkout.order_id)
    assert order["status"] in ("FULFILLING", "COMPLETED", "ON_HOLD")
    assert order["cancellation_reason"] is None
    assert "CANCELLED" not in order_statuses(platform, checkout.order_id)
    assert [r["status"] for r in reservations_of(platform, checkout.checkout_id)] == ["CONSUMED"]
    level = stock_row(platform, product_id)
    assert (level["available"], level["sold"]) == (2, 1)
    [payment] = payments_of(platform, checkout)
    assert payment["status"] == "SUCCEEDED"
    _, counts = await stripe.intent(payment["processor_reference"])
    assert counts["refunds"] == 0


async def test_another_shopper_cannot_cancel_an_order_but_staff_can(
    platform: RunningPlatform,
    admin: AcmeClient,
    shopper: ShopperSession,
    other_shopper: ShopperSession,
    stripe: StripeSandbox,
) -> None:
    product_id = await seed_product(admin, price=2400, stock=4)
    checkout, _ = await checkout_cart(shopper, product_id, 1)
    assert checkout.status == "COMPLETED", (checkout.failure_reason, checkout.failure_detail)

    # Someone else's order: neither readable nor cancellable, and left as it was.
    with pytest.raises(ApiError) as refused:
        await other_shopper.client.cancel_order(checkout.order_id)
    assert refused.value.status in (403, 404)
    with pytest.raises(ApiError) as hidden:
        await other_shopper.client.get_order(checkout.order_id)
    assert hidden.value.status in (403, 404)
    mine = await other_shopper.client.list_orders()
    assert checkout.order_id not in [o.order_id for o in mine.orders]
    order = order_row(platform, checkout.order_id)
    assert order["status"] in ("CONFIRMED", "AWAITING_FULFILMENT")
    assert "CANCELLED" not in order_statuses(platform, checkout.order_id)

    # Staff may cancel any order, with any reason, before fulfilment starts.
    cancelled = await admin.cancel_order(checkout.order_id, "FRAUD")
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "FRAUD")
    assert (await shopper.client.get_order(checkout.order_id)).status == "CANCELLED"

    async def unwound() -> None:
        level = stock_row(platform, product_id)
        assert (level["available"], level["reserved"], level["sold"]) == (4, 0, 0)
        assert picking_job(platform, checkout.order_id)["status"] == "CANCELLED"
        [payment] = payments_of(platform, checkout)
        assert payment["status"] == "REFUNDED"
        _, counts = await stripe.intent(payment["processor_reference"])
        assert (counts["refunds"], counts["amount_refunded"]) == (1, 2400)

    await eventually(unwound)
    assert order_row(platform, checkout.order_id)["cancellation_reason"] == "FRAUD"
