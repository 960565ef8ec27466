"""Payment Processing System (catalog: domains/Payments/systems/payment-processing-system).

- payment-api: authorize-payment records the payment (REQUESTED, keyed by order) and publishes
  payment-requested for fraud screening; GET /payments/{paymentId} for its shopper and staff.
- payment-worker: fraud-check-passed -> charge through Stripe (payment-requested on the https
  channel stripe.api); fraud-check-failed -> payment-declined FRAUD_SUSPECTED, never charged;
  Stripe's outcome (synchronous answer or signed webhook on payments.outcomes, POST
  /webhooks/stripe) -> payment-authorized or payment-declined, once; order-cancelled and
  checkout-failed after a charge -> refund-requested on stripe.api; refund-processed is
  forwarded on payments.events.

Stripe is reached only through the official SDK: `StripeChannel` is the stripe.api channel
adapter, `StripeWebhook` the payments.outcomes decoder. Settings: `PaymentSettings`
(ACME_STRIPE_API_KEY, ACME_STRIPE_API_BASE for the local sandbox, ACME_STRIPE_WEBHOOK_SECRET).
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.payment_processing.handlers import (
    API,
    WORKER,
    PaymentApiHandlers,
    PaymentFlow,
    PaymentWorkerHandlers,
)
from acme.systems.payment_processing.http import PaymentApiHttp
from acme.systems.payment_processing.settings import PaymentSettings
from acme.systems.payment_processing.stripe_gateway import StripeChannel, StripeWebhook


def create(app: SystemApp, settings: PaymentSettings | None = None) -> None:
    settings = settings or PaymentSettings()
    flow = PaymentFlow()
    app.handle(API, PaymentApiHandlers())
    app.serve(API, PaymentApiHttp(app))
    app.handle(WORKER, PaymentWorkerHandlers(flow))
    app.webhook("payments.outcomes", StripeWebhook(settings))
    app.channel_adapter("stripe.api", StripeChannel(app, settings, flow=flow))
