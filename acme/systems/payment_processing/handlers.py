"""Message handlers of payment-api and payment-worker (generated contracts
`PaymentApiHandlers`, `PaymentWorkerHandlers`), and `PaymentFlow`, the state changes they
share with the Stripe channel adapter.

Everything here runs inside one transaction of the service (`current()`): state change and
outgoing messages, including the Stripe calls, which are outbox rows on the `stripe.api`
channel delivered by the relay through `StripeChannel`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from acme.runtime import PermanentFailure, current
from acme.systems.payment_processing import domain, store
from acme.systems.payment_processing.domain import (
    Action,
    DeclineReason,
    PaymentStatus,
    RefundStatus,
)
from generated.messages.authorize_payment import AuthorizePayment
from generated.messages.checkout_failed import CheckoutFailed
from generated.messages.fraud_check_failed import FraudCheckFailed
from generated.messages.fraud_check_passed import FraudCheckPassed
from generated.messages.order_cancelled import OrderCancelled
from generated.messages.payment_authorized import PaymentAuthorized
from generated.messages.payment_declined import PaymentDeclined
from generated.messages.payment_failed import PaymentFailed
from generated.messages.payment_requested import PaymentRequested
from generated.messages.payment_succeeded import PaymentSucceeded
from generated.messages.refund_processed import RefundProcessed
from generated.messages.refund_requested import RefundRequested
from generated.services.payment_api import PaymentApiPublisher
from generated.services.payment_worker import PaymentWorkerPublisher
from generator.contracts import MessageContext

API = "payment-api"
WORKER = "payment-worker"
log = logging.getLogger("acme.payments")

# A checkout that failed before its payment was recorded gets a FAILED placeholder under its
# order id, so that a late authorize-payment finds the order taken and charges nothing.
# Out-of-stock checkouts never ask for payment, so they need none.
_NO_PLACEHOLDER = {"OUT_OF_STOCK"}
MAX_AMOUNT = 2_147_483_647  # payments.amount_cents is an INTEGER
PLACEHOLDER_CURRENCY = "XXX"  # ISO 4217 "no currency": the placeholder holds no money


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _checkout(payment: store.Payment) -> uuid.UUID:
    if payment.checkout_id is None:  # authorize-payment refuses payments without one
        raise PermanentFailure(f"payment {payment.payment_id} has no checkout id to report to")
    return uuid.UUID(payment.checkout_id)


class PaymentFlow:
    """State changes of a payment, each idempotent; call inside a payment-worker transaction."""

    @staticmethod
    def _publisher() -> PaymentWorkerPublisher:
        return current().publisher(PaymentWorkerPublisher)

    async def charge(self, payment: store.Payment) -> None:
        """REQUESTED -> CHARGING and stage the Stripe charge (payment-requested on stripe.api)."""
        tx = current()
        if not await store.move_payment(
            tx.conn,
            payment.payment_id,
            from_statuses=[PaymentStatus.REQUESTED],
            to_status=PaymentStatus.CHARGING,
            now=tx.now(),
        ):
            return
        await self._publisher().payment_requested(
            PaymentRequested(
                payment_id=uuid.UUID(payment.payment_id),
                order_id=uuid.UUID(payment.order_id),
                customer_id=_uuid(payment.customer_id),
                checkout_id=_uuid(payment.checkout_id),
                amount=payment.amount,
                currency=payment.currency,
                payment_method=payment.payment_method,
                requested_at=tx.now(),
            ),
            key=f"charge-{payment.payment_id}",
        )

    async def decline(self, payment: store.Payment, reason: DeclineReason, detail: str) -> bool:
        """-> FAILED and payment-declined, once per payment whichever path reports it."""
        tx = current()
        if not await store.move_payment(
            tx.conn,
            payment.payment_id,
            from_statuses=[PaymentStatus.REQUESTED, PaymentStatus.CHARGING],
            to_status=PaymentStatus.FAILED,
            now=tx.now(),
            failure_reason=reason,
        ):
            return False
        log.info("payment %s declined: %s (%s)", payment.payment_id, reason, detail)
        await self._publisher().payment_declined(
            PaymentDeclined(
                payment_id=uuid.UUID(payment.payment_id),
                order_id=uuid.UUID(payment.order_id),
                checkout_id=_checkout(payment),
                reason=reason,
                detail=detail[:500],
                declined_at=tx.now(),
            ),
            key=f"declined-{payment.payment_id}",
        )
        return True

    async def succeed(self, payment: store.Payment, reference: str, at: datetime) -> bool:
        """CHARGING (or REQUESTED for a zero amount) -> SUCCEEDED; tell the saga, or refund
        at once when the checkout failed meanwhile."""
        tx = current()
        action = (
            domain.on_charge_succeeded(payment.state)
            if payment.status != PaymentStatus.REQUESTED
            else domain.on_fraud_passed(payment.state)
        )
        if action is Action.NOTHING:
            if payment.status == PaymentStatus.FAILED:
                log.warning(
                    "payment %s: success reported after it failed; the first outcome stands",
                    payment.payment_id,
                )
            return False
        if not await store.move_payment(
            tx.conn,
            payment.payment_id,
            from_statuses=[PaymentStatus.REQUESTED, PaymentStatus.CHARGING],
            to_status=PaymentStatus.SUCCEEDED,
            now=tx.now(),
            processor_reference=reference,
        ):
            return False
        await store.record_authorization(
            tx.conn, payment_id=payment.payment_id, reference=reference, authorized_at=at
        )
        if action is Action.SUCCEED_THEN_REFUND:
            log.info(
                "payment %s succeeded after its checkout failed: refunding", payment.payment_id
            )
            charged = await store.payment_by_id(tx.conn, payment.payment_id)
            assert charged is not None
            await self.request_refund(charged, "checkout failed")
            return True
        await self._publisher().payment_authorized(
            PaymentAuthorized(
                payment_id=uuid.UUID(payment.payment_id),
                order_id=uuid.UUID(payment.order_id),
                checkout_id=_checkout(payment),
                amount=payment.amount,
                currency=payment.currency,
                processor_reference=reference,
                authorized_at=at,
            ),
            key=f"authorized-{payment.payment_id}",
        )
        return True

    async def request_refund(self, payment: store.Payment, reason: str) -> bool:
        """One full refund per payment (its id derives from the payment id); stage the Stripe
        refund call with the PaymentIntent to refund."""
        if not domain.needs_refund(payment.state):
            return False
        tx = current()
        refund_id = domain.refund_id_for(payment.payment_id)
        if not await store.insert_refund(
            tx.conn,
            refund_id=refund_id,
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=payment.currency,
            reason=reason,
            now=tx.now(),
        ):
            return False
        log.info("payment %s: refund %s requested (%s)", payment.payment_id, refund_id, reason)
        await self._publisher().refund_requested(
            RefundRequested(
                refund_id=uuid.UUID(refund_id),
                payment_id=uuid.UUID(payment.payment_id),
                order_id=uuid.UUID(payment.order_id),
                amount=payment.amount,
                currency=payment.currency,
                reason=reason,
                processor_reference=payment.processor_reference,
                requested_at=tx.now(),
            ),
            key=domain.refund_idempotency_key(refund_id),
        )
        return True

    async def complete_refund(self, refund_id: str, reference: str | None, at: datetime) -> bool:
        """REQUESTED -> PROCESSED, payment -> REFUNDED, forward refund-processed; once."""
        tx = current()
        refund = await store.refund_by_id(tx.conn, refund_id)
        if refund is None:
            log.warning("refund %s is not Acme's (or of another environment); ignored", refund_id)
            return False
        values: dict[str, object] = {"processed_at": at}
        if reference is not None:
            values["processor_reference"] = reference
        if not await store.move_refund(
            tx.conn, refund_id, to_status=RefundStatus.PROCESSED, **values
        ):
            return False
        await store.move_payment(
            tx.conn,
            refund.payment_id,
            from_statuses=[PaymentStatus.SUCCEEDED],
            to_status=PaymentStatus.REFUNDED,
            now=tx.now(),
        )
        payment = await store.payment_by_id(tx.conn, refund.payment_id)
        await self._publisher().refund_processed(
            RefundProcessed(
                refund_id=uuid.UUID(refund_id),
                payment_id=uuid.UUID(refund.payment_id),
                order_id=None if payment is None else uuid.UUID(payment.order_id),
                amount=refund.amount,
                currency=refund.currency,
                processed_at=at,
            ),
            key=f"refund-processed-{refund_id}",
        )
        return True

    async def fail_refund(self, refund_id: str, detail: str) -> None:
        tx = current()
        if await store.move_refund(tx.conn, refund_id, to_status=RefundStatus.FAILED):
            log.error("refund %s failed at Stripe: %s; staff must resolve it", refund_id, detail)


class PaymentApiHandlers:
    """Implements `generated.services.payment_api.PaymentApiHandlers`."""

    async def on_authorize_payment(
        self, message: AuthorizePayment, context: MessageContext
    ) -> None:
        if message.order_id is None or message.checkout_id is None:
            # Payments are keyed by order and reported to a checkout; the saga sends both.
            raise PermanentFailure(
                "authorize-payment needs orderId and checkoutId "
                f"(got orderId={message.order_id}, checkoutId={message.checkout_id})"
            )
        if message.amount > MAX_AMOUNT:
            raise PermanentFailure(
                f"authorize-payment amount {message.amount} exceeds {MAX_AMOUNT} minor units, "
                "the largest amount payment-database holds"
            )
        tx = current()
        order_id = str(message.order_id)
        existing = await store.payment_by_order(tx.conn, order_id)
        if existing is not None:
            log.info(
                "authorize-payment for order %s: payment %s exists (%s); nothing more to do",
                order_id,
                existing.payment_id,
                existing.status,
            )
            return
        payment_id = str(uuid.uuid4())
        now = tx.now()
        await store.insert_payment(
            tx.conn,
            payment_id=payment_id,
            order_id=order_id,
            checkout_id=str(message.checkout_id),
            customer_id=None if message.customer_id is None else str(message.customer_id),
            amount=message.amount,
            currency=message.currency,
            payment_method=message.payment_method or "pm_card_visa",
            status=PaymentStatus.REQUESTED,
            now=now,
        )
        # Fraud Detection screens it first; the card is charged only after a passed check.
        await tx.publisher(PaymentApiPublisher).payment_requested(
            PaymentRequested(
                payment_id=uuid.UUID(payment_id),
                order_id=message.order_id,
                customer_id=message.customer_id,
                checkout_id=message.checkout_id,
                amount=message.amount,
                currency=message.currency,
                payment_method=message.payment_method or "pm_card_visa",
                requested_at=now,
            ),
            key=f"requested-{payment_id}",
        )


class PaymentWorkerHandlers:
    """Implements `generated.services.payment_worker.PaymentWorkerHandlers`."""

    def __init__(self, flow: PaymentFlow | None = None) -> None:
        self.flow = flow or PaymentFlow()

    @staticmethod
    async def _payment(payment_id: object, what: str) -> store.Payment | None:
        found = await store.payment_by_id(current().conn, str(payment_id))
        if found is None:
            # Stripe webhooks of another environment, or a verdict for a purged payment.
            log.warning("%s for unknown payment %s; acknowledged and ignored", what, payment_id)
        return found

    async def on_fraud_check_passed(
        self, message: FraudCheckPassed, context: MessageContext
    ) -> None:
        payment = await self._payment(message.payment_id, "fraud-check-passed")
        if payment is None:
            return
        tx = current()
        await store.record_fraud_check(
            tx.conn,
            payment_id=payment.payment_id,
            passed=True,
            score=message.score,
            reason=None,
            checked_at=message.checked_at,
        )
        action = domain.on_fraud_passed(payment.state)
        if action is Action.CHARGE:
            await self.flow.charge(payment)
        elif action is Action.AUTHORIZE_WITHOUT_CHARGE:
            await self.flow.succeed(payment, domain.free_reference(payment.payment_id), tx.now())
        else:
            log.info(
                "fraud-check-passed for payment %s in %s%s: not charging",
                payment.payment_id,
                payment.status,
                " (checkout failed)" if payment.checkout_failed_at else "",
            )

    async def on_fraud_check_failed(
        self, message: FraudCheckFailed, context: MessageContext
    ) -> None:
        payment = await self._payment(message.payment_id, "fraud-check-failed")
        if payment is None:
            return
        await store.record_fraud_check(
            current().conn,
            payment_id=payment.payment_id,
            passed=False,
            score=message.score,
            reason=message.reason,
            checked_at=message.checked_at,
        )
        if domain.on_fraud_failed(payment.state) is Action.DECLINE:
            score = "" if message.score is None else f", score {message.score}"
            await self.flow.decline(
                payment, "FRAUD_SUSPECTED", f"fraud check failed: {message.reason}{score}"
            )

    async def on_payment_succeeded(
        self, message: PaymentSucceeded, context: MessageContext
    ) -> None:
        payment = await self._payment(message.payment_id, "payment-succeeded")
        if payment is None:
            return
        reference = message.processor_reference or payment.processor_reference
        if reference is None:
            raise PermanentFailure(f"payment-succeeded for {payment.payment_id} names no intent")
        await self.flow.succeed(payment, reference, message.succeeded_at)

    async def on_payment_failed(self, message: PaymentFailed, context: MessageContext) -> None:
        payment = await self._payment(message.payment_id, "payment-failed")
        if payment is None:
            return
        if domain.on_charge_failed(payment.state) is Action.DECLINE:
            await self.flow.decline(
                payment, message.reason, f"declined by Stripe: {message.reason}"
            )
        else:
            log.info(
                "payment-failed for payment %s in %s: already settled",
                payment.payment_id,
                payment.status,
            )

    async def on_refund_processed(self, message: RefundProcessed, context: MessageContext) -> None:
        await self.flow.complete_refund(str(message.refund_id), None, message.processed_at)

    async def on_order_cancelled(self, message: OrderCancelled, context: MessageContext) -> None:
        payment = await store.payment_by_order(current().conn, str(message.order_id))
        if payment is None:
            log.info("order-cancelled: order %s has no payment", message.order_id)
            return
        if domain.on_order_cancelled(payment.state) is Action.REFUND:
            await self.flow.request_refund(payment, f"order cancelled ({message.reason})")
        else:
            log.info(
                "order-cancelled: payment %s is %s; nothing to refund",
                payment.payment_id,
                payment.status,
            )

    async def on_checkout_failed(self, message: CheckoutFailed, context: MessageContext) -> None:
        tx = current()
        now = tx.now()
        payment = await store.payment_by_order(tx.conn, str(message.order_id))
        if payment is None:
            if message.reason not in _NO_PLACEHOLDER:
                await store.insert_payment(
                    tx.conn,
                    payment_id=str(uuid.uuid4()),
                    order_id=str(message.order_id),
                    checkout_id=str(message.checkout_id),
                    customer_id=None,
                    amount=0,
                    currency=PLACEHOLDER_CURRENCY,
                    payment_method="pm_card_visa",
                    status=PaymentStatus.FAILED,
                    now=now,
                    checkout_failed_at=now,
                )
            return
        await store.mark_checkout_failed(tx.conn, payment.payment_id, now)
        action = domain.on_checkout_failed(payment.state)
        if action is Action.ABANDON:
            # Not charged yet: make sure it never is, whatever verdict comes later.
            await store.move_payment(
                tx.conn,
                payment.payment_id,
                from_statuses=[PaymentStatus.REQUESTED],
                to_status=PaymentStatus.FAILED,
                now=now,
            )
        elif action is Action.REFUND:
            await self.flow.request_refund(payment, f"checkout failed ({message.reason})")
