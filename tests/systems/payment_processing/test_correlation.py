"""A correlation id survives the round trip through Stripe (metadata out, webhook back in).

Without it, everything a Stripe answer or webhook causes (payment-authorized, the saga's next
steps, refund-processed) would start a new trace, cut off from the checkout that asked.
"""

from __future__ import annotations

import uuid

import pytest

from acme.runtime.wire import CORRELATION_ID
from acme.systems.payment_processing.stripe_gateway import event_correlation
from tests.systems.payment_processing.conftest import Rig
from tests.systems.payment_processing.test_webhooks import (
    charging,
    intent,
    post_event,
    stripe_event,
)

pytestmark = pytest.mark.e2e


async def _charged_under(rig: Rig, correlation_id: str, amount: int = 1800) -> dict[str, str]:
    """authorize-payment and a passed fraud check, both carrying `correlation_id`."""
    order_id = str(uuid.uuid4())
    await rig.h.deliver(
        "authorize-payment",
        {
            "cartId": str(uuid.uuid4()),
            "checkoutId": str(uuid.uuid4()),
            "orderId": order_id,
            "customerId": str(uuid.uuid4()),
            "amount": amount,
            "currency": "EUR",
            "paymentMethod": "pm_card_visa",
        },
        correlation_id=correlation_id,
    )
    (requested,) = await rig.h.published(
        "payment-requested", where=lambda b: b["orderId"] == order_id
    )
    await rig.h.deliver(
        "fraud-check-passed",
        {
            "paymentId": requested.body["paymentId"],
            "orderId": order_id,
            "score": 0.01,
            "checkedAt": "2030-01-01T12:00:00Z",
        },
        correlation_id=correlation_id,
    )
    return requested.body


async def test_charge_carries_the_correlation_id_to_stripe_and_back(rig: Rig) -> None:
    correlation_id = f"checkout-{uuid.uuid4()}"
    requested = await _charged_under(rig, correlation_id)

    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    assert authorized.headers[CORRELATION_ID] == correlation_id
    (stripe_intent,) = await rig.intents_of(requested["paymentId"])
    assert stripe_intent["metadata"]["correlation_id"] == correlation_id


async def test_refund_carries_the_cancellations_correlation_id(rig: Rig) -> None:
    requested = await _charged_under(rig, str(uuid.uuid4()), amount=2700)
    await rig.outcome("payment-authorized", requested["paymentId"])
    cancellation = f"cancel-{uuid.uuid4()}"
    await rig.h.deliver(
        "order-cancelled",
        {
            "orderId": requested["orderId"],
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T13:00:00Z",
        },
        correlation_id=cancellation,
    )

    processed = await rig.outcome("refund-processed", requested["paymentId"])
    assert processed.headers[CORRELATION_ID] == cancellation
    [refund] = [
        r
        for r in (await rig.state())["refunds"]
        if r["metadata"].get("payment_id") == requested["paymentId"]
    ]
    assert refund["metadata"]["correlation_id"] == cancellation


async def test_webhook_uses_the_correlation_id_from_the_metadata(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    correlation_id = f"checkout-{uuid.uuid4()}"
    obj = intent(requested, "pi_correlated", "succeeded")
    obj["metadata"]["correlation_id"] = correlation_id

    response = await post_event(rig, stripe_event("payment_intent.succeeded", obj))

    assert response.status_code == 200
    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    assert authorized.headers[CORRELATION_ID] == correlation_id


async def test_webhook_without_one_falls_back_to_the_event_id(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    event = stripe_event("payment_intent.succeeded", intent(requested, "pi_plain", "succeeded"))

    assert (await post_event(rig, event)).status_code == 200

    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    assert authorized.headers[CORRELATION_ID] == event["id"]


@pytest.mark.parametrize(
    "metadata",
    [{}, {"correlation_id": ""}, {"correlation_id": "x" * 501}, {"correlation_id": "a\nb"}],
)
def test_unusable_metadata_gives_no_correlation_id(metadata: dict[str, str]) -> None:
    event = {"data": {"object": {"metadata": metadata}}}
    assert event_correlation(event) is None
