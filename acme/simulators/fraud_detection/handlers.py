"""fraud-api message handler (generated contract: `FraudApiHandlers`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from acme.runtime import current
from acme.simulators.fraud_detection import store
from acme.simulators.fraud_detection.domain import FailReason, Rules, Verdict, screen
from acme.simulators.fraud_detection.settings import FraudSettings
from generated.messages.fraud_check_failed import FraudCheckFailed
from generated.messages.fraud_check_passed import FraudCheckPassed
from generated.messages.payment_requested import PaymentRequested
from generated.services.fraud_api import FraudApiPublisher
from generator.contracts import MessageContext

log = logging.getLogger("acme.fraud")


class FraudApiHandlers:
    """Implements `generated.services.fraud_api.FraudApiHandlers`."""

    def __init__(self, settings: FraudSettings) -> None:
        self.settings = settings
        self.rules = Rules(
            amount_threshold=settings.amount_threshold,
            velocity_limit=settings.velocity_limit,
            blocked_customers=settings.blocked_customers,
        )
        self.window = timedelta(minutes=settings.velocity_window_minutes)

    async def on_payment_requested(
        self, message: PaymentRequested, context: MessageContext
    ) -> None:
        tx = current()
        conn = tx.conn
        await store.ensure_schema(conn)
        payment_id = str(message.payment_id)
        earlier_verdict = await store.find(conn, payment_id)
        if earlier_verdict is not None:
            # The same payment asked again (a re-published request): same verdict, same
            # message id, so the payment worker's inbox drops the copy.
            verdict = Verdict(
                earlier_verdict.passed,
                earlier_verdict.score,
                None if earlier_verdict.reason is None else FailReason(earlier_verdict.reason),
            )
            await self._publish(message, verdict, earlier_verdict.checked_at)
            return
        requested_at = message.requested_at.astimezone(UTC)
        customer = None if message.customer_id is None else str(message.customer_id)
        earlier = 0
        if customer is not None:
            earlier = await store.count_in_window(
                conn, customer, requested_at - self.window, requested_at
            )
        verdict = screen(
            self.rules, amount=message.amount, customer_id=message.customer_id, earlier=earlier
        )
        now = tx.now()
        await store.record(
            conn,
            payment_id=payment_id,
            customer_id=customer,
            amount=message.amount,
            requested_at=requested_at,
            passed=verdict.passed,
            score=verdict.score,
            reason=None if verdict.reason is None else verdict.reason.value,
            checked_at=now,
        )
        log.info(
            "payment %s (%d %s, customer %s): %s score %.4f%s",
            payment_id,
            message.amount,
            message.currency,
            customer,
            "passed" if verdict.passed else "failed",
            verdict.score,
            f" ({verdict.reason})" if verdict.reason else "",
        )
        await self._publish(message, verdict, now)

    @staticmethod
    async def _publish(message: PaymentRequested, verdict: Verdict, when: datetime) -> None:
        publisher = current().publisher(FraudApiPublisher)
        key = f"verdict-{message.payment_id}"
        if verdict.passed:
            await publisher.fraud_check_passed(
                FraudCheckPassed(
                    payment_id=message.payment_id,
                    order_id=message.order_id,
                    score=verdict.score,
                    checked_at=when,
                ),
                key=key,
            )
        else:
            assert verdict.reason is not None
            await publisher.fraud_check_failed(
                FraudCheckFailed(
                    payment_id=message.payment_id,
                    order_id=message.order_id,
                    score=verdict.score,
                    reason=verdict.reason.value,
                    checked_at=when,
                ),
                key=key,
            )
