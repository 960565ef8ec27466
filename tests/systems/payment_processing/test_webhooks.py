"""POST /webhooks/stripe (channel payments.outcomes) with real Stripe signatures.

Stripe is unreachable in these tests, so charges stay CHARGING and the signed events posted
here are the only reports of their outcome."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from acme.simulators.stripe import DEFAULT_WEBHOOK_SECRET, SandboxSettings, sign
from acme.systems.payment_processing.stripe_gateway import WEBHOOK_EVENTS, decode_event
from tests.systems.payment_processing.conftest import Rig

pytestmark = pytest.mark.e2e


def stripe_event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def intent(requested: dict[str, Any], intent_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": requested["amount"],
        "amount_received": requested["amount"] if status == "succeeded" else 0,
        "currency": requested["currency"].lower(),
        "metadata": {"payment_id": requested["paymentId"], "order_id": requested["orderId"]},
        "status": status,
        "last_payment_error": None,
        **extra,
    }


def succeeded_event(
    requested: dict[str, Any], intent_id: str, event_id: str | None = None
) -> dict[str, Any]:
    return stripe_event(
        "payment_intent.succeeded", intent(requested, intent_id, "succeeded"), event_id
    )


def failed_event(
    requested: dict[str, Any], intent_id: str, code: str, decline: str
) -> dict[str, Any]:
    error = {"type": "card_error", "code": code, "decline_code": decline, "message": "no"}
    return stripe_event(
        "payment_intent.payment_failed",
        intent(requested, intent_id, "requires_payment_method", last_payment_error=error),
    )


async def post_event(
    rig: Rig,
    event: dict[str, Any],
    *,
    secret: str = DEFAULT_WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    payload = json.dumps(event).encode()
    header = signature if signature is not None else sign(payload, secret, timestamp)
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Stripe-Signature"] = header
    return await rig.h.client.post("/webhooks/stripe", content=payload, headers=headers)


async def charging(rig: Rig, **kw: Any) -> dict[str, Any]:
    requested = await rig.authorize(**kw)
    await rig.pass_fraud(requested)
    async with asyncio.timeout(10):
        while (await rig.payment(requested["paymentId"])).status != "CHARGING":
            await asyncio.sleep(0.05)
    return requested


async def test_signed_success_authorizes_the_payment(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    response = await post_event(rig, succeeded_event(requested, "pi_webhook_1"))
    assert response.status_code == 200
    assert response.json()["handled"] == 1
    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    assert authorized.body["processorReference"] == "pi_webhook_1"
    payment = await rig.payment(requested["paymentId"])
    assert (payment.status, payment.processor_reference) == ("SUCCEEDED", "pi_webhook_1")


async def test_duplicate_webhook_has_no_second_effect(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    event = succeeded_event(requested, "pi_dup", event_id="evt_duplicate_delivery")
    first = await post_event(rig, event)
    second = await post_event(rig, event)  # Stripe retrying the same event
    assert first.json()["handled"] == 1
    assert second.status_code == 200
    assert second.json()["duplicate"] == 1
    # Another event reporting the same outcome is handled but finds nothing to do.
    third = await post_event(rig, succeeded_event(requested, "pi_dup"))
    assert third.json()["handled"] == 1
    await rig.h.quiet()
    assert len(rig.h.seen("payment-authorized")) == 1
    async with rig.h.app.store("payment-database").connect() as conn:
        rows = await conn.exec_driver_sql("SELECT count(*) FROM payment_authorizations")
        assert rows.scalar() == 1


async def test_failure_webhook_declines_with_the_mapped_reason(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    await post_event(rig, failed_event(requested, "pi_f", "expired_card", "expired_card"))
    declined = await rig.outcome("payment-declined", requested["paymentId"])
    assert declined.body["reason"] == "EXPIRED_CARD"


async def test_failure_after_success_is_ignored(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    await post_event(rig, succeeded_event(requested, "pi_o"))
    await post_event(rig, failed_event(requested, "pi_o", "card_declined", "generic_decline"))
    await rig.h.quiet()
    assert (await rig.payment(requested["paymentId"])).status == "SUCCEEDED"
    assert rig.h.seen("payment-declined") == []


@pytest.mark.parametrize(
    "kw",
    [
        {"secret": "whsec_someone_else"},
        {"signature": ""},
        {"signature": "t=abc,v1=nothex"},
        {"timestamp": int(time.time()) - 3600},  # a replay of an old delivery
    ],
)
async def test_unverifiable_webhooks_are_rejected(rig_stripe_down: Rig, kw: dict[str, Any]) -> None:
    rig = rig_stripe_down
    requested = await charging(rig)
    response = await post_event(rig, succeeded_event(requested, "pi_bad"), **kw)
    assert response.status_code == 400
    assert response.json()["code"] == "webhook-rejected"
    assert (await rig.payment(requested["paymentId"])).status == "CHARGING"


async def test_body_that_is_not_json_is_rejected(rig_stripe_down: Rig) -> None:
    payload = b"not json"
    response = await rig_stripe_down.h.client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": sign(payload, DEFAULT_WEBHOOK_SECRET)},
    )
    assert response.status_code == 400


async def test_event_types_acme_does_not_use_are_acknowledged(rig_stripe_down: Rig) -> None:
    response = await post_event(
        rig_stripe_down, stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    )
    assert response.status_code == 200
    assert response.json()["received"] == 0


def test_the_sandbox_endpoint_subscribes_to_exactly_the_decoded_events() -> None:
    # The sandbox's default `enabled_events` stands for Acme's endpoint in Stripe's dashboard:
    # an event decode_event uses but the endpoint misses would never arrive; one it lists but
    # nobody decodes would cost a POST through the gateway for nothing.
    assert sorted(SandboxSettings().webhook_event_types) == sorted(WEBHOOK_EVENTS)
    ids = {k: str(uuid.uuid4()) for k in ("payment_id", "order_id", "refund_id")}
    obj = {"id": "x_1", "status": "succeeded", "amount": 100, "currency": "eur", "metadata": ids}
    sent = (*WEBHOOK_EVENTS, "payment_intent.created", "charge.succeeded", "charge.refunded")
    decoded = {t for t in sent if decode_event({"type": t, "data": {"object": obj}}) is not None}
    assert decoded == set(WEBHOOK_EVENTS)


async def test_events_of_payments_that_are_not_acmes_are_acknowledged(
    rig_stripe_down: Rig,
) -> None:
    rig = rig_stripe_down
    stranger = {
        "paymentId": str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "amount": 100,
        "currency": "EUR",
    }
    unknown = await post_event(rig, succeeded_event(stranger, "pi_stranger"))
    assert unknown.status_code == 200
    assert unknown.json()["handled"] == 1  # looked up, logged, nothing changed
    foreign = intent(stranger, "pi_foreign", "succeeded")
    foreign["metadata"] = {"shop": "another"}
    no_metadata = await post_event(rig, stripe_event("payment_intent.succeeded", foreign))
    assert no_metadata.json()["received"] == 0
    await rig.h.quiet()
    assert rig.h.seen("payment-authorized") == []


async def test_refund_webhook_completes_the_refund_and_forwards_it(rig_stripe_down: Rig) -> None:
    rig = rig_stripe_down
    requested = await charging(rig, amount=777)
    await post_event(rig, succeeded_event(requested, "pi_refund_me"))
    await rig.outcome("payment-authorized", requested["paymentId"])
    await rig.h.deliver(
        "order-cancelled",
        {
            "orderId": requested["orderId"],
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T13:00:00Z",
        },
    )
    async with asyncio.timeout(10):
        while not (await rig.payment(requested["paymentId"])).refunds:
            await asyncio.sleep(0.05)
    (refund,) = (await rig.payment(requested["paymentId"])).refunds
    assert refund.status == "REQUESTED"
    refund_obj = {
        "id": "re_webhook_1",
        "object": "refund",
        "amount": 777,
        "currency": "eur",
        "payment_intent": "pi_refund_me",
        "status": "succeeded",
        "metadata": {
            "refund_id": refund.refund_id,
            "payment_id": requested["paymentId"],
            "order_id": requested["orderId"],
        },
    }
    event = stripe_event("refund.created", refund_obj)
    await post_event(rig, event)
    await post_event(rig, event)
    processed = await rig.outcome("refund-processed", requested["paymentId"])
    assert processed.body["refundId"] == refund.refund_id
    assert processed.body["orderId"] == requested["orderId"]
    payment = await rig.payment(requested["paymentId"])
    assert payment.status == "REFUNDED"
    assert payment.refunds[0].status == "PROCESSED"
    await rig.h.quiet()
    assert len(rig.h.seen("refund-processed")) == 1


async def test_sandbox_duplicate_deliveries_have_no_second_effect(rig: Rig) -> None:
    await rig.faults(duplicate_webhooks=1.0, seed=7)
    requested = await rig.authorize(payment_method="pm_card_chargeDeclined")
    await rig.pass_fraud(requested)
    await rig.outcome("payment-declined", requested["paymentId"])
    async with asyncio.timeout(10):
        while not any(
            e["type"] == "payment_intent.payment_failed" and e["deliveries"] >= 2
            for e in (await rig.state())["events"]
        ):
            await asyncio.sleep(0.05)
    await rig.h.quiet()
    assert len(rig.h.seen("payment-declined")) == 1
    assert rig.count("payment-worker", "duplicate") >= 1
