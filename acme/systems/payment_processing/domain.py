"""Payment rules, free of I/O: what each event does to a payment, reasons, idempotency keys.

A payment moves REQUESTED -> CHARGING -> SUCCEEDED -> REFUNDED, or ends FAILED. Every outcome
can be reported more than once (Stripe's synchronous answer and its webhook, redeliveries,
retried calls), so each decision depends only on the stored state: the first report of an
outcome applies it, every later one finds the payment moved on and does nothing.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Literal

DeclineReason = Literal[
    "CARD_DECLINED", "INSUFFICIENT_FUNDS", "EXPIRED_CARD", "PROCESSING_ERROR", "FRAUD_SUSPECTED"
]
CardDeclineReason = Literal[
    "CARD_DECLINED", "INSUFFICIENT_FUNDS", "EXPIRED_CARD", "PROCESSING_ERROR"
]

# Refund ids are derived from the payment id: one full refund per payment, whoever asks first
# (order cancelled, checkout failed), and the same Stripe idempotency key on every retry.
_REFUND_NAMESPACE = uuid.UUID("0b5c1f5e-3c55-4b8e-9f4e-6a8e2f9d7c31")


class PaymentStatus(enum.StrEnum):
    REQUESTED = "REQUESTED"
    CHARGING = "CHARGING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"


class RefundStatus(enum.StrEnum):
    REQUESTED = "REQUESTED"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PaymentState:
    status: str
    amount: int
    checkout_failed: bool = False
    refunded_or_refunding: bool = False  # a refund REQUESTED or PROCESSED exists


class Action(enum.Enum):
    CHARGE = "charge"  # REQUESTED -> CHARGING, call Stripe
    AUTHORIZE = "authorize"  # -> SUCCEEDED, tell the saga payment-authorized
    AUTHORIZE_WITHOUT_CHARGE = "authorize-without-charge"  # nothing to take (amount 0)
    SUCCEED_THEN_REFUND = "succeed-then-refund"  # charged for a checkout that already failed
    DECLINE = "decline"  # -> FAILED, tell the saga payment-declined
    ABANDON = "abandon"  # REQUESTED -> FAILED silently: its checkout failed, never charge
    REFUND = "refund"  # ask Stripe for the money back
    NOTHING = "nothing"


def on_fraud_passed(state: PaymentState) -> Action:
    if state.status != PaymentStatus.REQUESTED or state.checkout_failed:
        return Action.NOTHING
    return Action.AUTHORIZE_WITHOUT_CHARGE if state.amount == 0 else Action.CHARGE


def on_fraud_failed(state: PaymentState) -> Action:
    return Action.DECLINE if state.status == PaymentStatus.REQUESTED else Action.NOTHING


def on_charge_succeeded(state: PaymentState) -> Action:
    """Stripe took the money (synchronous answer or webhook, whichever comes first)."""
    if state.status != PaymentStatus.CHARGING:
        # Already applied (a duplicate), or a late success after a decline: the first
        # terminal outcome wins; Stripe never succeeds an intent it declined without a new
        # confirmation, which Acme never sends.
        return Action.NOTHING
    return Action.SUCCEED_THEN_REFUND if state.checkout_failed else Action.AUTHORIZE


def on_charge_failed(state: PaymentState) -> Action:
    return Action.DECLINE if state.status == PaymentStatus.CHARGING else Action.NOTHING


def needs_refund(state: PaymentState) -> bool:
    return (
        state.status == PaymentStatus.SUCCEEDED
        and state.amount > 0
        and not state.refunded_or_refunding
    )


def on_order_cancelled(state: PaymentState) -> Action:
    return Action.REFUND if needs_refund(state) else Action.NOTHING


def on_checkout_failed(state: PaymentState) -> Action:
    """Besides this action, the payment is marked as belonging to a failed checkout, so that
    a charge still in flight is refunded as soon as it succeeds."""
    if state.status == PaymentStatus.REQUESTED:
        return Action.ABANDON
    return Action.REFUND if needs_refund(state) else Action.NOTHING


def decline_reason(code: str | None, decline_code: str | None) -> CardDeclineReason:
    """Stripe's error code / decline code as the catalog's reason (unknown: PROCESSING_ERROR)."""
    if "insufficient_funds" in (code, decline_code):
        return "INSUFFICIENT_FUNDS"
    if "expired_card" in (code, decline_code):
        return "EXPIRED_CARD"
    if code == "card_declined":
        return "CARD_DECLINED"
    return "PROCESSING_ERROR"


def charge_idempotency_key(payment_id: str) -> str:
    """Stripe Idempotency-Key of the charge: one PaymentIntent per payment, however often the
    call is retried or the process crashes between the call and recording its answer."""
    return f"payment-{payment_id}"


def refund_idempotency_key(refund_id: str) -> str:
    return f"refund-{refund_id}"


def refund_id_for(payment_id: str) -> str:
    return str(uuid.uuid5(_REFUND_NAMESPACE, f"full-refund:{payment_id}"))


def free_reference(payment_id: str) -> str:
    """Processor reference of a zero-amount payment, which never reaches Stripe."""
    return f"no-charge-{payment_id}"
