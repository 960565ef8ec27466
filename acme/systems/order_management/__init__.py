"""Order Management System (catalog: domains/Ordering/systems/order-management-system):
order-service, the single writer of orders; flow: order-cancellation.

Lifecycle (each transition writes the order, a status-history row with the next sequence
number and `order-status-changed`, in one transaction; sequence 1 is the creation, announced by
`order-created`):
- create-order (from the checkout saga, idempotent by orderId): CREATED -> CONFIRMED (number
  ORD-nnnnnnnn from `order_counters`, `order-confirmed` with items and address) ->
  AWAITING_FULFILMENT, all at once.
- order-packed: CONFIRMED/AWAITING_FULFILMENT -> FULFILLING (`order-fulfilment-started`).
- shipment-delivered: FULFILLING/ON_HOLD -> COMPLETED (`order-completed`).
- shipment-failed: FULFILLING -> ON_HOLD, ADDRESS_VERIFICATION for FAILED_DELIVERY, else
  INVENTORY_RECHECK (`order-placed-on-hold`, review within 3 days).
- release-order-hold (staff): ON_HOLD -> CONFIRMED or AWAITING_FULFILMENT (`order-hold-released`).
- change-order-delivery-address (owner or staff, before FULFILLING or while ON_HOLD): new address
  revision, `order-delivery-address-changed` and `order-amended`; no status change.
- refund-processed: a REFUND row in the status history (once per refund id), no status change.
- archive sweep (ACME_ORDER_ARCHIVE_INTERVAL_SECONDS, daily): COMPLETED/CANCELLED for longer than
  ACME_ORDER_ARCHIVE_AFTER_DAYS (30) -> ARCHIVED (`order-archived` with the SHA-256 of the
  order's canonical JSON).
Events that do not fit the order's status (e.g. order-packed after a cancellation) are logged and
acknowledged without a transition.

Cancellation policy (`domain.check_cancellation`): a shopper may cancel their own order with
reason CUSTOMER_REQUESTED; staff (role admin) any order with any reason; the checkout saga (on
ordering.commands) any order. Only while CREATED, CONFIRMED, AWAITING_FULFILMENT or ON_HOLD;
from FULFILLING on the answer is 409 "Cannot cancel". `order-cancelled` lets inventory return
the stock, the payment worker refund and the warehouse cancel the picking job.

HTTP: GET /orders (own orders; staff may filter by customerId), GET /orders/{orderId} (owner or
staff), POST /orders/{orderId}/cancel, PUT /orders/{orderId}/delivery-address,
POST /orders/{orderId}/release-hold (staff).
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.order_management.handlers import OrderMessages, OrderSettings, archive_task
from acme.systems.order_management.http import OrderHttp

__all__ = ["create"]


def create(app: SystemApp) -> None:
    settings = OrderSettings()
    messages = OrderMessages(app, settings)
    app.handle("order-service", messages)
    app.serve("order-service", OrderHttp(app))
    app.every(settings.archive_interval_seconds, archive_task(messages), name="archive-orders")
