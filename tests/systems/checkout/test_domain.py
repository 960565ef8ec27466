"""The checkout saga's rules without I/O."""

from __future__ import annotations

import pytest

from acme.systems.checkout.domain import (
    Action,
    CheckoutStatus,
    FailureReason,
    Reply,
    Shortage,
    clip,
    decide,
    decline_reason,
    shortage_detail,
    timeout_reason,
)

S = CheckoutStatus


@pytest.mark.parametrize(
    ("status", "reply", "action"),
    [
        (S.RESERVING_INVENTORY, Reply.INVENTORY_RESERVED, Action.ADVANCE),
        (S.RESERVING_INVENTORY, Reply.INVENTORY_UNAVAILABLE, Action.FAIL),
        (S.AUTHORIZING_PAYMENT, Reply.PAYMENT_AUTHORIZED, Action.ADVANCE),
        (S.AUTHORIZING_PAYMENT, Reply.PAYMENT_DECLINED, Action.FAIL),
        (S.CREATING_ORDER, Reply.ORDER_CREATED, Action.ADVANCE),
        # late successes after a failure: the saga undoes stock and orders itself
        (S.FAILED, Reply.INVENTORY_RESERVED, Action.COMPENSATE),
        (S.FAILED, Reply.ORDER_CREATED, Action.COMPENSATE),
        # a late payment is refunded by the Payment Worker (it receives checkout-failed)
        (S.FAILED, Reply.PAYMENT_AUTHORIZED, Action.IGNORE),
        (S.FAILED, Reply.PAYMENT_DECLINED, Action.IGNORE),
        # duplicates and replies out of order
        (S.AUTHORIZING_PAYMENT, Reply.INVENTORY_RESERVED, Action.IGNORE),
        (S.AUTHORIZING_PAYMENT, Reply.INVENTORY_UNAVAILABLE, Action.IGNORE),
        (S.RESERVING_INVENTORY, Reply.PAYMENT_AUTHORIZED, Action.IGNORE),
        (S.COMPLETED, Reply.ORDER_CREATED, Action.IGNORE),
        (S.STARTED, Reply.INVENTORY_RESERVED, Action.IGNORE),
    ],
)
def test_decide(status: CheckoutStatus, reply: Reply, action: Action) -> None:
    assert decide(status, reply) is action


def test_timeout_reason() -> None:
    assert timeout_reason("STARTED") is FailureReason.TIMEOUT
    assert timeout_reason("RESERVING_INVENTORY") is FailureReason.TIMEOUT
    assert timeout_reason("AUTHORIZING_PAYMENT") is FailureReason.TIMEOUT
    assert timeout_reason("CREATING_ORDER") is FailureReason.ORDER_REJECTED
    with pytest.raises(ValueError, match="no deadline"):
        timeout_reason("COMPLETED")


def test_decline_reason() -> None:
    assert decline_reason("FRAUD_SUSPECTED") is FailureReason.FRAUD_SUSPECTED
    for reason in ("CARD_DECLINED", "INSUFFICIENT_FUNDS", "EXPIRED_CARD", "PROCESSING_ERROR"):
        assert decline_reason(reason) is FailureReason.PAYMENT_DECLINED


def test_shortage_detail_names_products_and_fits_the_schema() -> None:
    detail = shortage_detail([Shortage("p1", 3, 1), Shortage("p2", 2, 0)])
    assert detail == (
        "Out of stock: product p1: 3 requested, 1 available; product p2: 2 requested, 0 available"
    )
    long = shortage_detail(Shortage(f"product-{n}", 5, 0) for n in range(100))
    assert len(long) == 500 and long.endswith("…")
    assert clip("short") == "short"
