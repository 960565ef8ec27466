"""Payment rules and the Stripe event mapping, without I/O."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from acme.systems.payment_processing import domain
from acme.systems.payment_processing.domain import Action, PaymentState
from acme.systems.payment_processing.stripe_gateway import decode_event
from generated.messages.payment_failed import PaymentFailed
from generated.messages.payment_succeeded import PaymentSucceeded
from generated.messages.refund_processed import RefundProcessed


def state(status: str, amount: int = 1000, **kw: Any) -> PaymentState:
    return PaymentState(status=status, amount=amount, **kw)


@pytest.mark.parametrize(
    ("payment", "action"),
    [
        (state("REQUESTED"), Action.CHARGE),
        (state("REQUESTED", amount=0), Action.AUTHORIZE_WITHOUT_CHARGE),
        (state("REQUESTED", checkout_failed=True), Action.NOTHING),
        (state("CHARGING"), Action.NOTHING),
        (state("FAILED"), Action.NOTHING),
    ],
)
def test_passed_fraud_check(payment: PaymentState, action: Action) -> None:
    assert domain.on_fraud_passed(payment) is action


@pytest.mark.parametrize(
    ("status", "action"),
    [("REQUESTED", Action.DECLINE), ("CHARGING", Action.NOTHING), ("FAILED", Action.NOTHING)],
)
def test_failed_fraud_check(status: str, action: Action) -> None:
    assert domain.on_fraud_failed(state(status)) is action


@pytest.mark.parametrize(
    ("payment", "action"),
    [
        (state("CHARGING"), Action.AUTHORIZE),
        (state("CHARGING", checkout_failed=True), Action.SUCCEED_THEN_REFUND),
        (state("SUCCEEDED"), Action.NOTHING),  # the other report of the same success
        (state("FAILED"), Action.NOTHING),  # first terminal outcome wins
        (state("REFUNDED"), Action.NOTHING),
    ],
)
def test_charge_succeeded(payment: PaymentState, action: Action) -> None:
    assert domain.on_charge_succeeded(payment) is action


@pytest.mark.parametrize(
    ("status", "action"),
    [("CHARGING", Action.DECLINE), ("SUCCEEDED", Action.NOTHING), ("FAILED", Action.NOTHING)],
)
def test_charge_failed(status: str, action: Action) -> None:
    assert domain.on_charge_failed(state(status)) is action


@pytest.mark.parametrize(
    ("payment", "action"),
    [
        (state("SUCCEEDED"), Action.REFUND),
        (state("SUCCEEDED", refunded_or_refunding=True), Action.NOTHING),
        (state("SUCCEEDED", amount=0), Action.NOTHING),
        (state("REQUESTED"), Action.NOTHING),
        (state("FAILED"), Action.NOTHING),
        (state("REFUNDED"), Action.NOTHING),
    ],
)
def test_order_cancelled(payment: PaymentState, action: Action) -> None:
    assert domain.on_order_cancelled(payment) is action


@pytest.mark.parametrize(
    ("payment", "action"),
    [
        (state("REQUESTED"), Action.ABANDON),
        (state("CHARGING"), Action.NOTHING),  # refunded when the success arrives
        (state("SUCCEEDED"), Action.REFUND),
        (state("SUCCEEDED", refunded_or_refunding=True), Action.NOTHING),
        (state("FAILED"), Action.NOTHING),
    ],
)
def test_checkout_failed(payment: PaymentState, action: Action) -> None:
    assert domain.on_checkout_failed(payment) is action


@pytest.mark.parametrize(
    ("code", "decline_code", "reason"),
    [
        ("card_declined", "generic_decline", "CARD_DECLINED"),
        ("card_declined", "insufficient_funds", "INSUFFICIENT_FUNDS"),
        ("expired_card", "expired_card", "EXPIRED_CARD"),
        ("processing_error", "processing_error", "PROCESSING_ERROR"),
        ("card_declined", "do_not_honor", "CARD_DECLINED"),
        ("something_new", None, "PROCESSING_ERROR"),
        (None, None, "PROCESSING_ERROR"),
    ],
)
def test_decline_reason(code: str | None, decline_code: str | None, reason: str) -> None:
    assert domain.decline_reason(code, decline_code) == reason


def test_idempotency_keys_derive_from_the_business_operation() -> None:
    payment_id = str(uuid.uuid4())
    assert domain.charge_idempotency_key(payment_id) == f"payment-{payment_id}"
    refund_id = domain.refund_id_for(payment_id)
    assert refund_id == domain.refund_id_for(payment_id)  # one full refund per payment
    assert refund_id != domain.refund_id_for(str(uuid.uuid4()))
    assert domain.refund_idempotency_key(refund_id) == f"refund-{refund_id}"


# -- Stripe events -> catalog messages -----------------------------------------------------

PAYMENT = "6d7c4f44-8f2b-4d1e-9d7a-2f2b8a8e0c11"
ORDER = "0e0a3f0c-5a55-4c0b-8a57-8b6c1b9f9f22"
REFUND = "4a2b0e7e-1d1c-4f5f-b2c4-1c9d6a3e7f33"


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "created": 1_900_000_000, "data": {"object": obj}}


def intent_obj(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 1500,
        "amount_received": 1500 if status == "succeeded" else 0,
        "currency": "eur",
        "status": status,
        "metadata": {"payment_id": PAYMENT, "order_id": ORDER},
        **extra,
    }


def test_payment_intent_succeeded_becomes_payment_succeeded() -> None:
    decoded = decode_event(event("payment_intent.succeeded", intent_obj("succeeded")))
    assert decoded is not None
    incoming, message = decoded
    assert incoming.message.id == "payment-succeeded"
    assert isinstance(message, PaymentSucceeded)
    assert (str(message.payment_id), str(message.order_id)) == (PAYMENT, ORDER)
    assert (message.amount, message.currency, message.processor_reference) == (
        1500,
        "EUR",
        "pi_123",
    )
    assert message.succeeded_at.timestamp() == 1_900_000_000


def test_payment_intent_failed_becomes_payment_failed_with_the_mapped_reason() -> None:
    error = {"code": "card_declined", "decline_code": "insufficient_funds"}
    obj = intent_obj("requires_payment_method", last_payment_error=error)
    decoded = decode_event(event("payment_intent.payment_failed", obj))
    assert decoded is not None
    incoming, message = decoded
    assert incoming.message.id == "payment-failed"
    assert isinstance(message, PaymentFailed)
    assert message.reason == "INSUFFICIENT_FUNDS"


@pytest.mark.parametrize("kind", ["refund.created", "refund.updated"])
def test_succeeded_refund_becomes_refund_processed(kind: str) -> None:
    obj = {
        "id": "re_1",
        "object": "refund",
        "amount": 700,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"refund_id": REFUND, "payment_id": PAYMENT, "order_id": ORDER},
    }
    decoded = decode_event(event(kind, obj))
    assert decoded is not None
    incoming, message = decoded
    assert incoming.message.id == "refund-processed"
    assert isinstance(message, RefundProcessed)
    assert (str(message.refund_id), message.amount, message.currency) == (REFUND, 700, "USD")
    assert str(message.order_id) == ORDER


@pytest.mark.parametrize(
    "stripe_event",
    [
        event("charge.refunded", {"id": "ch_1", "object": "charge", "metadata": {}}),
        event("refund.created", {"id": "re_1", "status": "pending", "metadata": {}}),
        event("payment_intent.created", intent_obj("requires_confirmation")),
        event("payment_intent.succeeded", {**intent_obj("succeeded"), "metadata": {}}),
        event(
            "payment_intent.succeeded",
            {**intent_obj("succeeded"), "metadata": {"payment_id": "nope", "order_id": ORDER}},
        ),
        {"id": "evt_2", "type": "payment_intent.succeeded", "data": "not an object"},
    ],
)
def test_events_acme_does_not_use_decode_to_nothing(stripe_event: dict[str, Any]) -> None:
    assert decode_event(stripe_event) is None
