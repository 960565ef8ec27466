"""HTTP operation of checkout-api: GET /checkouts/{checkoutId} (CheckoutApiHttpHandlers)."""

from __future__ import annotations

import uuid

from acme.runtime import SystemApp
from acme.systems.checkout import store
from acme.systems.checkout.domain import CheckoutStatus, FailureReason
from generated.messages.get_checkout import GetCheckoutResponse
from generator.contracts import ApiError, RequestContext

__all__ = ["CheckoutHttp"]

CHECKOUT_DATABASE = "checkout-database"


def _canonical(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


class CheckoutHttp:
    """Implements `CheckoutApiHttpHandlers`: the shopper follows a checkout to its outcome."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def get_checkout(self, checkout_id: str, request: RequestContext) -> GetCheckoutResponse:
        checkout_id = _canonical(checkout_id)
        async with self.app.store(CHECKOUT_DATABASE).connect() as conn:
            checkout = await store.get_checkout(conn, checkout_id)
        if checkout is None:
            raise ApiError(404, "not_found", f"checkout {checkout_id} does not exist (yet)")
        if not request.is_admin and (
            request.subject is None or _canonical(request.subject) != checkout.customer_id
        ):
            raise ApiError(403, "forbidden", f"checkout {checkout_id} belongs to another customer")
        failed = checkout.status == CheckoutStatus.FAILED
        return GetCheckoutResponse(
            checkout_id=uuid.UUID(checkout.checkout_id),
            order_id=uuid.UUID(checkout.order_id),
            cart_id=uuid.UUID(checkout.cart_id),
            customer_id=uuid.UUID(checkout.customer_id),
            status=CheckoutStatus(checkout.status).value,
            total=checkout.total_cents,
            currency=checkout.currency,
            failure_reason=(
                FailureReason(checkout.failure_reason).value
                if failed and checkout.failure_reason
                else None
            ),
            failure_detail=checkout.failure_detail if failed else None,
            started_at=checkout.started_at,
            updated_at=checkout.updated_at,
            completed_at=checkout.completed_at,
        )
