"""order-cancellation end to end: a paid order cancelled by its shopper is unwound everywhere."""

from __future__ import annotations

from acme.client import AcmeClient
from benchmarks.embedded import RunningPlatform

from .helpers import (
    E2E,
    ShopperSession,
    StripeSandbox,
    checkout_cart,
    eventually,
    key,
    norm,
    payments_of,
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
