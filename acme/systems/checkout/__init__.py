"""Checkout System (catalog: domains/Ordering/systems/checkout-system): checkout-api and
checkout-orchestrator, sharing checkout-database; flow: checkout-saga.

- checkout-api opens a session for every `cart-checked-out` (session id = the event's
  `eventId`, order id allocated up front, lines, total, payment method and address copied, first
  deadline set) and publishes `checkout-started` in the same transaction. It serves
  `GET /checkouts/{checkoutId}`: status, and for a failed checkout `failureReason` and
  `failureDetail` (owner or admin).
- checkout-orchestrator runs the saga with its state persisted (`checkouts`, one `saga_steps`
  row per step): reserve-inventory -> authorize-payment -> create-order -> checkout-completed.
  `inventory-unavailable` fails it with OUT_OF_STOCK; `payment-declined` with PAYMENT_DECLINED
  (FRAUD_SUSPECTED for a fraud decline) after releasing the held stock.
- Deadlines: every step must be answered within ACME_CHECKOUT_STEP_TIMEOUT_SECONDS (60); a
  sweep every ACME_CHECKOUT_SWEEP_INTERVAL_SECONDS (5) fails overdue checkouts with TIMEOUT, or
  ORDER_REJECTED when the order step is overdue, and compensates.
- Compensation is idempotent: release-inventory is sent at most once per reservation (a
  RELEASE_INVENTORY step row plus an outbox key derived from the reservation id), a reservation
  that arrives after the failure is released, an order created after the failure is cancelled
  with cancel-order (reason PAYMENT_FAILED). A late payment is refunded by the Payment Worker,
  which receives checkout-failed.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.checkout.handlers import (
    CheckoutApiMessages,
    CheckoutOrchestrator,
    CheckoutSettings,
    periodic,
)
from acme.systems.checkout.http import CheckoutHttp

__all__ = ["create"]


def create(app: SystemApp) -> None:
    settings = CheckoutSettings()
    orchestrator = CheckoutOrchestrator(app, settings)
    app.handle("checkout-api", CheckoutApiMessages(settings))
    app.serve("checkout-api", CheckoutHttp(app))
    app.handle("checkout-orchestrator", orchestrator)
    app.every(settings.sweep_interval_seconds, periodic(orchestrator), name="checkout-deadlines")
