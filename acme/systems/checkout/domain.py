"""The checkout saga's rules without I/O: statuses, which reply moves which status, and what a
failure or a late reply means."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ACTIVE",
    "STEP_OF",
    "Action",
    "CheckoutStatus",
    "FailureReason",
    "Reply",
    "Shortage",
    "Step",
    "StepStatus",
    "clip",
    "decide",
    "decline_reason",
    "shortage_detail",
    "timeout_reason",
]

DETAIL_LIMIT = 500  # checkout-failed.detail and get-checkout.failureDetail maxLength


class CheckoutStatus(enum.StrEnum):
    STARTED = "STARTED"
    RESERVING_INVENTORY = "RESERVING_INVENTORY"
    AUTHORIZING_PAYMENT = "AUTHORIZING_PAYMENT"
    CREATING_ORDER = "CREATING_ORDER"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


ACTIVE = frozenset(
    {
        CheckoutStatus.STARTED,
        CheckoutStatus.RESERVING_INVENTORY,
        CheckoutStatus.AUTHORIZING_PAYMENT,
        CheckoutStatus.CREATING_ORDER,
    }
)


class Step(enum.StrEnum):
    RESERVE_INVENTORY = "RESERVE_INVENTORY"
    AUTHORIZE_PAYMENT = "AUTHORIZE_PAYMENT"
    CREATE_ORDER = "CREATE_ORDER"
    RELEASE_INVENTORY = "RELEASE_INVENTORY"  # compensation
    CANCEL_ORDER = "CANCEL_ORDER"  # compensation of a late order


class StepStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"


class FailureReason(enum.StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"
    TIMEOUT = "TIMEOUT"
    ORDER_REJECTED = "ORDER_REJECTED"


# The step a checkout is waiting on in each active status (STARTED waits on the orchestrator).
STEP_OF: dict[CheckoutStatus, Step] = {
    CheckoutStatus.RESERVING_INVENTORY: Step.RESERVE_INVENTORY,
    CheckoutStatus.AUTHORIZING_PAYMENT: Step.AUTHORIZE_PAYMENT,
    CheckoutStatus.CREATING_ORDER: Step.CREATE_ORDER,
}


class Reply(enum.StrEnum):
    INVENTORY_RESERVED = "inventory-reserved"
    INVENTORY_UNAVAILABLE = "inventory-unavailable"
    PAYMENT_AUTHORIZED = "payment-authorized"
    PAYMENT_DECLINED = "payment-declined"
    ORDER_CREATED = "order-created"


class Action(enum.StrEnum):
    ADVANCE = "advance"  # the awaited success: next step (or completion)
    FAIL = "fail"  # the awaited failure: fail the checkout and compensate
    COMPENSATE = "compensate"  # a success after the checkout failed: undo it
    IGNORE = "ignore"  # duplicate, out of order, or nothing left to do


_AWAITED_IN: dict[Reply, CheckoutStatus] = {
    Reply.INVENTORY_RESERVED: CheckoutStatus.RESERVING_INVENTORY,
    Reply.INVENTORY_UNAVAILABLE: CheckoutStatus.RESERVING_INVENTORY,
    Reply.PAYMENT_AUTHORIZED: CheckoutStatus.AUTHORIZING_PAYMENT,
    Reply.PAYMENT_DECLINED: CheckoutStatus.AUTHORIZING_PAYMENT,
    Reply.ORDER_CREATED: CheckoutStatus.CREATING_ORDER,
}
_FAILURES = frozenset({Reply.INVENTORY_UNAVAILABLE, Reply.PAYMENT_DECLINED})
# Late successes the saga itself must undo. A late payment is refunded by the Payment Worker,
# which receives checkout-failed, so it needs nothing here.
_COMPENSATED_WHEN_LATE = frozenset({Reply.INVENTORY_RESERVED, Reply.ORDER_CREATED})


def decide(status: str, reply: Reply) -> Action:
    """What the orchestrator does with `reply` for a checkout in `status`."""
    if status == _AWAITED_IN[reply]:
        return Action.FAIL if reply in _FAILURES else Action.ADVANCE
    if status == CheckoutStatus.FAILED and reply in _COMPENSATED_WHEN_LATE:
        return Action.COMPENSATE
    return Action.IGNORE


def timeout_reason(status: str) -> FailureReason:
    """Why an overdue checkout fails: the order step being overdue means the order service
    rejected (dead-lettered) create-order; any other overdue step is a plain timeout."""
    if status not in ACTIVE:
        raise ValueError(f"a {status} checkout has no deadline")
    if status == CheckoutStatus.CREATING_ORDER:
        return FailureReason.ORDER_REJECTED
    return FailureReason.TIMEOUT


def decline_reason(payment_reason: str) -> FailureReason:
    if payment_reason == "FRAUD_SUSPECTED":
        return FailureReason.FRAUD_SUSPECTED
    return FailureReason.PAYMENT_DECLINED


def clip(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Shortage:
    product_id: str
    requested: int
    available: int


def shortage_detail(shortages: Iterable[Shortage]) -> str:
    parts = [
        f"product {s.product_id}: {s.requested} requested, {s.available} available"
        for s in shortages
    ]
    return clip("Out of stock: " + "; ".join(parts) if parts else "Out of stock")
