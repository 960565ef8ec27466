"""Payment Processing System end to end against the Stripe sandbox: authorize, fraud
verdicts, charges through the official SDK, declines, refunds, idempotent retries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from acme.runtime import OutboxRow
from acme.runtime.deadletter import list_dead_letters
from acme.runtime.wire import loads_headers, public_headers
from acme.systems.payment_processing.settings import PaymentSettings
from acme.systems.payment_processing.stripe_gateway import StripeChannel
from generated.datastores.payment_database import message_outbox
from tests.systems.payment_processing.conftest import Rig

pytestmark = pytest.mark.e2e


async def settle(rig: Rig, seconds: float = 0.6) -> None:
    """Give relays, webhooks and redeliveries time to do anything they still would."""
    await rig.h.quiet(seconds)


# -- authorize-payment (payment-api) -------------------------------------------------------


async def test_authorize_records_the_payment_and_asks_for_screening(rig: Rig) -> None:
    customer = str(uuid.uuid4())
    requested = await rig.authorize(amount=1999, customer_id=customer)
    assert requested["amount"] == 1999
    assert requested["currency"] == "EUR"
    assert requested["customerId"] == customer
    assert requested["paymentMethod"] == "pm_card_visa"
    payment = await rig.payment(requested["paymentId"])
    assert (payment.status, payment.amount, payment.order_id) == (
        "REQUESTED",
        1999,
        requested["orderId"],
    )
    assert payment.checkout_id == requested["checkoutId"]
    assert await rig.intents_of(requested["paymentId"]) == []  # screening comes first


async def test_second_authorize_for_the_same_order_changes_nothing(rig: Rig) -> None:
    requested = await rig.authorize()
    again = {
        "cartId": str(uuid.uuid4()),
        "checkoutId": requested["checkoutId"],
        "orderId": requested["orderId"],
        "amount": 1,
        "currency": "EUR",
    }
    await rig.h.deliver("authorize-payment", again)
    await settle(rig)
    assert len(rig.h.seen("payment-requested")) == 1
    assert (await rig.payment(requested["paymentId"])).amount == 4200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"orderId": None}, "needs orderId and checkoutId"),
        ({"checkoutId": None}, "needs orderId and checkoutId"),
        ({"amount": 2**31}, "exceeds 2147483647 minor units"),
    ],
)
async def test_unusable_authorize_is_dead_lettered(
    rig: Rig, change: dict[str, object], error: str
) -> None:
    command: dict[str, object] = {
        "cartId": str(uuid.uuid4()),
        "checkoutId": str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "amount": 100,
        "currency": "EUR",
    }
    command.update(change)
    await rig.h.deliver("authorize-payment", {k: v for k, v in command.items() if v is not None})
    async with asyncio.timeout(10):
        while rig.count("payment-api", "dead") == 0:
            await asyncio.sleep(0.05)
    (letter,) = await list_dead_letters(rig.h.settings, service="payment-api")
    assert letter.reason == "failed"
    assert error in letter.error
    assert rig.h.seen("payment-requested") == []


# -- fraud verdicts ------------------------------------------------------------------------


async def test_failed_fraud_check_declines_without_touching_the_card(rig: Rig) -> None:
    requested = await rig.authorize()
    await rig.h.deliver(
        "fraud-check-failed",
        {
            "paymentId": requested["paymentId"],
            "orderId": requested["orderId"],
            "score": 0.95,
            "reason": "HIGH_RISK_SCORE",
            "checkedAt": "2030-01-01T12:00:00Z",
        },
    )
    declined = await rig.outcome("payment-declined", requested["paymentId"])
    assert declined.body["reason"] == "FRAUD_SUSPECTED"
    assert declined.body["checkoutId"] == requested["checkoutId"]
    assert "HIGH_RISK_SCORE" in declined.body["detail"]
    payment = await rig.payment(requested["paymentId"])
    assert (payment.status, payment.failure_reason) == ("FAILED", "FRAUD_SUSPECTED")
    # A late passed verdict (a different message) charges nothing either.
    await rig.pass_fraud(requested)
    await settle(rig)
    assert await rig.intents_of(requested["paymentId"]) == []
    assert (await rig.state())["payment_intents"] == []


async def test_passed_fraud_check_charges_once_through_stripe(rig: Rig) -> None:
    requested = await rig.authorize(amount=2500)
    await rig.pass_fraud(requested)
    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    (intent,) = await rig.intents_of(requested["paymentId"])
    assert authorized.body["processorReference"] == intent["id"]
    assert authorized.body["amount"] == 2500
    assert authorized.body["checkoutId"] == requested["checkoutId"]
    assert intent["metadata"]["order_id"] == requested["orderId"]
    assert intent["status"] == "succeeded"
    payment = await rig.payment(requested["paymentId"])
    assert (payment.status, payment.processor_reference) == ("SUCCEEDED", intent["id"])
    # The webhook for the same outcome arrived too and changed nothing.
    state = await rig.state()
    assert state["counts"][intent["id"]]["captures"] == 1
    async with asyncio.timeout(10):
        while not any(
            e["type"] == "payment_intent.succeeded" and e["status"] == "delivered"
            for e in (await rig.state())["events"]
        ):
            await asyncio.sleep(0.05)
    await settle(rig)
    assert len(rig.h.seen("payment-authorized")) == 1


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ("pm_card_chargeDeclined", "CARD_DECLINED"),
        ("pm_card_chargeDeclinedInsufficientFunds", "INSUFFICIENT_FUNDS"),
    ],
)
async def test_card_decline_declines_the_payment_once(rig: Rig, card: str, reason: str) -> None:
    requested = await rig.authorize(payment_method=card)
    await rig.pass_fraud(requested)
    declined = await rig.outcome("payment-declined", requested["paymentId"])
    assert declined.body["reason"] == reason
    payment = await rig.payment(requested["paymentId"])
    assert (payment.status, payment.failure_reason) == ("FAILED", reason)
    (intent,) = await rig.intents_of(requested["paymentId"])
    assert payment.processor_reference == intent["id"]
    # Both reports arrived (402 answer and payment_intent.payment_failed webhook): one decline.
    async with asyncio.timeout(10):
        while not any(
            e["type"] == "payment_intent.payment_failed" and e["status"] == "delivered"
            for e in (await rig.state())["events"]
        ):
            await asyncio.sleep(0.05)
    await settle(rig)
    assert len(rig.h.seen("payment-declined")) == 1
    assert rig.h.seen("payment-authorized") == []


async def test_decline_from_the_synchronous_answer_alone(rig_without_webhooks: Rig) -> None:
    rig = rig_without_webhooks
    requested = await rig.authorize(payment_method="pm_card_chargeDeclinedInsufficientFunds")
    await rig.pass_fraud(requested)
    declined = await rig.outcome("payment-declined", requested["paymentId"])
    assert declined.body["reason"] == "INSUFFICIENT_FUNDS"


async def test_success_from_the_synchronous_answer_alone(rig_without_webhooks: Rig) -> None:
    rig = rig_without_webhooks
    requested = await rig.authorize()
    await rig.pass_fraud(requested)
    await rig.outcome("payment-authorized", requested["paymentId"])


async def test_zero_amount_is_authorized_without_stripe(rig: Rig) -> None:
    requested = await rig.authorize(amount=0)
    await rig.pass_fraud(requested)
    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    assert authorized.body["processorReference"] == f"no-charge-{requested['paymentId']}"
    assert await rig.intents_of(requested["paymentId"]) == []


# -- retries never charge twice ------------------------------------------------------------


async def test_stripe_failures_are_retried_without_a_second_charge(
    rig_without_webhooks: Rig,
) -> None:
    # The first two calls run at Stripe but their answers are lost (HTTP 500 after the fact);
    # the relay retries with the same idempotency key and gets the saved answer. Webhooks are
    # off, so the authorization can only come from the retried call's answer.
    rig = rig_without_webhooks
    await rig.faults(fail_next=2, error_phase="after")
    requested = await rig.authorize()
    await rig.pass_fraud(requested)
    await rig.outcome("payment-authorized", requested["paymentId"], timeout=20)
    (intent,) = await rig.intents_of(requested["paymentId"])
    state = await rig.state()
    assert state["counts"][intent["id"]]["charges"] == 1
    assert state["counts"][intent["id"]]["captures"] == 1
    assert state["requests"]["faults_after"] == 2
    assert state["requests"]["replayed"] >= 2
    assert len(state["payment_intents"]) == 1


async def test_adapter_run_again_after_a_crash_charges_nothing_more(rig: Rig) -> None:
    """As if the process died after the Stripe call but before marking the outbox row: the
    row is delivered again by the next process."""
    requested = await rig.authorize()
    await rig.pass_fraud(requested)
    await rig.outcome("payment-authorized", requested["paymentId"])
    row = await _stripe_row(rig, "payment-requested")
    channel = StripeChannel(rig.h.app, PaymentSettings())
    await channel(row)
    await channel(row)
    await settle(rig)
    (intent,) = await rig.intents_of(requested["paymentId"])
    state = await rig.state()
    assert state["counts"][intent["id"]]["charges"] == 1
    assert state["requests"]["replayed"] >= 2
    assert len(rig.h.seen("payment-authorized")) == 1


async def _stripe_row(rig: Rig, message_type: str) -> OutboxRow:
    async with rig.h.app.store("payment-database").connect() as conn:
        row = (
            (
                await conn.execute(
                    select(message_outbox).where(
                        message_outbox.c.message_type == message_type,
                        message_outbox.c.subject == "/v1",
                    )
                )
            )
            .mappings()
            .one()
        )
    return OutboxRow(
        message_id=row["message_id"],
        subject=row["subject"],
        message_type=row["message_type"],
        # As the relay hands it over: with the stored headers (the correlation id is part of
        # the Stripe call, so a retry must carry the same one to be the same request).
        headers=public_headers(loads_headers(row["headers"])),
        payload=str(row["payload"]).encode(),
        created_at=datetime.now(UTC),
        channel_id="stripe.api",
    )


# -- refunds -------------------------------------------------------------------------------


async def charged(rig: Rig, amount: int = 3100) -> dict[str, object]:
    requested = await rig.authorize(amount=amount)
    await rig.pass_fraud(requested)
    await rig.outcome("payment-authorized", requested["paymentId"])
    return requested


async def test_order_cancelled_refunds_once(rig: Rig) -> None:
    requested = await charged(rig)
    payment_id = str(requested["paymentId"])
    cancelled = {
        "orderId": requested["orderId"],
        "reason": "CUSTOMER_REQUESTED",
        "cancelledAt": "2030-01-01T13:00:00Z",
    }
    await rig.h.deliver("order-cancelled", cancelled)
    processed = await rig.outcome("refund-processed", payment_id)
    assert processed.body["amount"] == 3100
    assert processed.body["orderId"] == requested["orderId"]
    payment = await rig.payment(payment_id)
    assert payment.status == "REFUNDED"
    (refund,) = payment.refunds
    assert (refund.status, refund.amount) == ("PROCESSED", 3100)
    assert refund.processor_reference is not None
    # Cancelled again (another message): still one refund at Stripe and one forward.
    await rig.h.deliver("order-cancelled", cancelled)
    await settle(rig, 1.0)
    (intent,) = await rig.intents_of(payment_id)
    counts = (await rig.state())["counts"][intent["id"]]
    assert (counts["refunds"], counts["amount_refunded"]) == (1, 3100)
    assert len(rig.h.seen("refund-processed")) == 1


async def test_order_cancelled_for_an_unpaid_order_refunds_nothing(rig: Rig) -> None:
    requested = await rig.authorize()
    await rig.h.deliver(
        "order-cancelled",
        {"orderId": requested["orderId"], "reason": "FRAUD", "cancelledAt": "2030-01-01T13:00:00Z"},
    )
    await settle(rig)
    assert (await rig.payment(str(requested["paymentId"]))).refunds == ()
    assert (await rig.state())["refunds"] == []


def checkout_failed(requested: dict[str, object], reason: str = "TIMEOUT") -> dict[str, object]:
    return {
        "checkoutId": requested["checkoutId"],
        "cartId": str(uuid.uuid4()),
        "orderId": requested["orderId"],
        "reason": reason,
        "failedAt": "2030-01-01T12:05:00Z",
    }


async def test_checkout_failed_after_the_charge_refunds_it(rig: Rig) -> None:
    requested = await charged(rig)
    await rig.h.deliver("checkout-failed", checkout_failed(requested, "ORDER_REJECTED"))
    await rig.outcome("refund-processed", str(requested["paymentId"]))
    payment = await rig.payment(str(requested["paymentId"]))
    assert payment.status == "REFUNDED"
    assert payment.checkout_failed_at is not None


async def test_checkout_failed_before_screening_means_never_charged(rig: Rig) -> None:
    requested = await rig.authorize()
    await rig.h.deliver("checkout-failed", checkout_failed(requested))
    async with asyncio.timeout(10):
        while (await rig.payment(str(requested["paymentId"]))).status != "FAILED":
            await asyncio.sleep(0.05)
    await rig.pass_fraud(requested)
    await settle(rig)
    assert await rig.intents_of(str(requested["paymentId"])) == []
    assert rig.h.seen("payment-authorized") == []


async def test_checkout_failed_before_authorize_blocks_a_late_charge(rig: Rig) -> None:
    order_id, checkout_id = str(uuid.uuid4()), str(uuid.uuid4())
    await rig.h.deliver(
        "checkout-failed",
        checkout_failed({"orderId": order_id, "checkoutId": checkout_id}),
    )
    await settle(rig)
    await rig.h.deliver(
        "authorize-payment",
        {
            "cartId": str(uuid.uuid4()),
            "checkoutId": checkout_id,
            "orderId": order_id,
            "amount": 500,
            "currency": "EUR",
        },
    )
    await settle(rig)
    assert rig.h.seen("payment-requested") == []


async def test_charge_that_succeeds_after_its_checkout_failed_is_refunded(
    rig_stripe_down: Rig,
) -> None:
    """The checkout times out while the charge is in flight; the success comes later by
    webhook: the money goes straight back and the saga is not told it was authorized."""
    from tests.systems.payment_processing.test_webhooks import post_event, succeeded_event

    rig = rig_stripe_down
    requested = await rig.authorize()
    await rig.pass_fraud(requested)
    payment_id = str(requested["paymentId"])
    async with asyncio.timeout(10):
        while (await rig.payment(payment_id)).status != "CHARGING":
            await asyncio.sleep(0.05)
    await rig.h.deliver("checkout-failed", checkout_failed(requested))
    async with asyncio.timeout(10):
        while (await rig.payment(payment_id)).checkout_failed_at is None:
            await asyncio.sleep(0.05)
    response = await post_event(rig, succeeded_event(requested, "pi_late_success"))
    assert response.status_code == 200
    payment = await rig.payment(payment_id)
    assert payment.status == "SUCCEEDED"
    (refund,) = payment.refunds
    assert refund.status == "REQUESTED"  # Stripe is down: the refund call waits in the outbox
    await settle(rig)
    assert rig.h.seen("payment-authorized") == []
