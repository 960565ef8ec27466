"""GET /payments/{paymentId} of the Payment API."""

from __future__ import annotations

import uuid

import pytest

from tests.systems.payment_processing.conftest import Rig

pytestmark = pytest.mark.e2e


async def test_shopper_reads_their_payment_with_its_refund(rig: Rig) -> None:
    customer = str(uuid.uuid4())
    requested = await rig.authorize(amount=1250, customer_id=customer)
    await rig.pass_fraud(requested)
    authorized = await rig.outcome("payment-authorized", requested["paymentId"])
    await rig.h.deliver(
        "order-cancelled",
        {
            "orderId": requested["orderId"],
            "reason": "CUSTOMER_REQUESTED",
            "cancelledAt": "2030-01-01T13:00:00Z",
        },
    )
    await rig.outcome("refund-processed", requested["paymentId"])
    response = await rig.h.client.get(
        f"/payments/{requested['paymentId']}", headers=rig.h.auth(customer)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["paymentId"] == requested["paymentId"]
    assert body["orderId"] == requested["orderId"]
    assert body["checkoutId"] == requested["checkoutId"]
    assert body["customerId"] == customer
    assert (body["amount"], body["currency"], body["status"]) == (1250, "EUR", "REFUNDED")
    assert body["processorReference"] == authorized.body["processorReference"]
    (refund,) = body["refunds"]
    assert (refund["amount"], refund["status"]) == (1250, "PROCESSED")
    assert refund["processedAt"] is not None
    assert body["createdAt"] <= body["updatedAt"]


async def test_declined_payment_shows_why(rig: Rig) -> None:
    customer = str(uuid.uuid4())
    requested = await rig.authorize(payment_method="pm_card_chargeDeclined", customer_id=customer)
    await rig.pass_fraud(requested)
    await rig.outcome("payment-declined", requested["paymentId"])
    body = (
        await rig.h.client.get(f"/payments/{requested['paymentId']}", headers=rig.h.auth(customer))
    ).json()
    assert (body["status"], body["failureReason"]) == ("FAILED", "CARD_DECLINED")


async def test_staff_read_any_payment_and_other_shoppers_none(rig: Rig) -> None:
    requested = await rig.authorize()
    path = f"/payments/{requested['paymentId']}"
    assert (await rig.h.client.get(path, headers=rig.h.auth(admin=True))).status_code == 200
    other = await rig.h.client.get(path, headers=rig.h.auth(str(uuid.uuid4())))
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"


async def test_unknown_payment_is_404(rig: Rig) -> None:
    response = await rig.h.client.get(f"/payments/{uuid.uuid4()}", headers=rig.h.auth(admin=True))
    assert response.status_code == 404


async def test_no_token_is_401(rig: Rig) -> None:
    assert (await rig.h.client.get(f"/payments/{uuid.uuid4()}")).status_code == 401


async def test_malformed_payment_id_is_422(rig: Rig) -> None:
    response = await rig.h.client.get("/payments/12345", headers=rig.h.auth(admin=True))
    assert response.status_code == 422
