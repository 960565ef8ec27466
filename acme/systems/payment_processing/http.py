"""Payment API HTTP operations (generated contract: `PaymentApiHttpHandlers`)."""

from __future__ import annotations

import uuid

from acme.runtime import SystemApp
from acme.systems.payment_processing import store
from generated.messages.get_payment import GetPaymentResponse, GetPaymentResponseRefund
from generator.contracts import ApiError, RequestContext


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def payment_view(payment: store.Payment) -> GetPaymentResponse:
    return GetPaymentResponse(
        payment_id=uuid.UUID(payment.payment_id),
        order_id=uuid.UUID(payment.order_id),
        checkout_id=_uuid(payment.checkout_id),
        customer_id=_uuid(payment.customer_id),
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        processor_reference=payment.processor_reference,
        failure_reason=payment.failure_reason,
        refunds=[
            GetPaymentResponseRefund(
                refund_id=uuid.UUID(r.refund_id),
                amount=r.amount,
                status=r.status,
                requested_at=r.created_at,
                processed_at=r.processed_at,
            )
            for r in payment.refunds
        ],
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


class PaymentApiHttp:
    """Implements `generated.http.payment_api.PaymentApiHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def get_payment(self, payment_id: str, request: RequestContext) -> GetPaymentResponse:
        async with self.app.store("payment-database").connect() as conn:
            payment = await store.payment_by_id(conn, str(uuid.UUID(payment_id)))
        if payment is None:
            raise ApiError(404, "not_found", f"payment {payment_id} does not exist")
        if not request.is_admin and (
            payment.customer_id is None or payment.customer_id != request.subject
        ):
            raise ApiError(403, "forbidden", f"payment {payment_id} is not yours")
        return payment_view(payment)
