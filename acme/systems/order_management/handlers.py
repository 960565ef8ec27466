"""The order lifecycle (shared by the HTTP operations) and order-service's message handlers
(implements generated.services.order_service.OrderServiceHandlers)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select

from acme.runtime import PermanentFailure, SystemApp, Tx, current
from acme.systems.order_management import store
from acme.systems.order_management.domain import (
    HOLD_REVIEW_PERIOD,
    OrderConflict,
    OrderStatus,
    archive_due,
    can_move,
    check_cancellation,
    confirmation_number,
    hold_reason_for,
    record_checksum,
    retention_category,
)
from generated.datastores.order_database import orders
from generated.messages.cancel_order import CancelOrder
from generated.messages.create_order import CreateOrder
from generated.messages.order_archived import OrderArchived
from generated.messages.order_cancelled import OrderCancelled
from generated.messages.order_completed import OrderCompleted
from generated.messages.order_confirmed import (
    OrderConfirmed,
    OrderConfirmedDeliveryAddress,
    OrderConfirmedItem,
)
from generated.messages.order_created import OrderCreated, OrderCreatedItem
from generated.messages.order_fulfilment_started import OrderFulfilmentStarted
from generated.messages.order_packed import OrderPacked
from generated.messages.order_placed_on_hold import OrderPlacedOnHold
from generated.messages.order_status_changed import OrderStatusChanged
from generated.messages.refund_processed import RefundProcessed
from generated.messages.shipment_delivered import ShipmentDelivered
from generated.messages.shipment_failed import ShipmentFailed
from generated.services.order_service import OrderServicePublisher
from generator.contracts import MessageContext

__all__ = ["OrderLifecycle", "OrderMessages", "OrderSettings"]

ORDER_DATABASE = "order-database"
SERVICE = "order-service"
WAREHOUSE_ID = "eu-west-1-main"  # Acme runs one warehouse
OWNER_TEAM = "ordering-platform"

logger = logging.getLogger("acme.orders")


class OrderSettings(BaseSettings):
    """Archiving (environment: ACME_ORDER_ARCHIVE_AFTER_DAYS, ...)."""

    model_config = SettingsConfigDict(env_prefix="ACME_ORDER_", extra="ignore")

    archive_after_days: float = Field(default=30.0, ge=0, description="Terminal -> ARCHIVED.")
    archive_interval_seconds: float = Field(default=86400.0, gt=0, description="Sweep period.")
    archive_batch_size: int = Field(default=200, ge=1)


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def order_id_for(message: CreateOrder) -> str:
    """The pre-allocated order id; an old-style command without one gets an id derived from
    its checkout, so a redelivery still finds the same order."""
    if message.order_id is not None:
        return str(message.order_id)
    if message.checkout_id is not None:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"acme:order-of-checkout:{message.checkout_id}"))
    raise PermanentFailure("create-order carries neither orderId nor checkoutId")


class OrderLifecycle:
    """Every transition: the order row, a status-history row and the events, in the caller's
    transaction. Transitions are conditional on the status read, so concurrent changes of one
    order never both win."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.publisher = tx.publisher(OrderServicePublisher)

    async def move(
        self,
        order: store.OrderRow,
        target: OrderStatus,
        *,
        reason: str | None = None,
        **values: Any,
    ) -> int:
        """Move `order` to `target`; returns the new status sequence (raises OrderConflict
        when the lifecycle forbids it or the order changed meanwhile)."""
        if not can_move(order.status, target):
            raise OrderConflict(f"an order that is {order.status} cannot become {target}")
        now = self.tx.now()
        sequence = await store.move(
            self.tx.conn, order.order_id, order.status, target.value, updated_at=now, **values
        )
        if sequence is None:
            raise OrderConflict(f"order {order.order_id} changed meanwhile; try again")
        await store.add_history(
            self.tx.conn,
            order_id=order.order_id,
            sequence=sequence,
            previous_status=order.status,
            status=target.value,
            reason=reason,
            correlation_id=self.tx.correlation_id,
            changed_at=now,
        )
        await self.publisher.order_status_changed(
            OrderStatusChanged(
                order_id=uuid.UUID(order.order_id),
                previous_status=order.status,
                new_status=target.value,
                sequence=sequence,
                change_reason=reason[:250] if reason else None,
                correlation_id=_uuid(self.tx.correlation_id),
                changed_at=now,
            ),
            key=f"status:{order.order_id}:{sequence}",
        )
        return sequence

    async def reload(self, order_id: str) -> store.OrderRow:
        order = await store.get_order(self.tx.conn, order_id)
        assert order is not None
        return order

    async def create(self, message: CreateOrder) -> store.OrderRow | None:
        """create-order: CREATED, then CONFIRMED and AWAITING_FULFILMENT at once (stock is
        held and payment taken by now). None when the order already exists (idempotent)."""
        conn = self.tx.conn
        order_id = order_id_for(message)
        if await store.get_order(conn, order_id) is not None:
            return None
        checkout_id = str(message.checkout_id) if message.checkout_id else None
        if checkout_id is not None:
            other = await store.order_for_checkout(conn, checkout_id)
            if other is not None:
                logger.warning(
                    "checkout %s already has order %s; create-order for %s ignored",
                    checkout_id,
                    other,
                    order_id,
                )
                return None
        items: dict[str, store.ItemRow] = {}
        for line in message.items:
            product_id = str(line.product_id)
            if product_id in items:
                raise PermanentFailure(f"create-order {order_id} lists product {product_id} twice")
            items[product_id] = store.ItemRow(product_id, line.sku, line.quantity, line.unit_price)
        now = self.tx.now()
        address = (
            message.delivery_address.model_dump(mode="json", by_alias=True, exclude_none=True)
            if message.delivery_address is not None
            else None
        )
        await store.insert_order(
            conn,
            {
                "order_id": order_id,
                "checkout_id": checkout_id,
                "cart_id": str(message.cart_id),
                "customer_id": str(message.customer_id),
                "status": OrderStatus.CREATED.value,
                "total_cents": message.total,
                "currency": message.currency,
                "payment_authorization_id": message.payment_authorization_id,
                "inventory_reservation_id": (
                    str(message.inventory_reservation_id)
                    if message.inventory_reservation_id
                    else None
                ),
                "delivery_address": address,
                "status_sequence": 1,
                "created_at": now,
                "updated_at": now,
            },
            list(items.values()),
        )
        # Sequence 1 of the history is the creation, announced by order-created; every later
        # transition gets the next number and an order-status-changed.
        await store.add_history(
            conn,
            order_id=order_id,
            sequence=1,
            status=OrderStatus.CREATED.value,
            reason="created by checkout",
            correlation_id=self.tx.correlation_id,
            changed_at=now,
        )
        await self.publisher.order_created(
            OrderCreated(
                order_id=uuid.UUID(order_id),
                customer_id=message.customer_id,
                total=message.total,
                currency=message.currency,
                status="created",
                items=[
                    # order-created requires a SKU; without one the product id stands in.
                    OrderCreatedItem(
                        sku=i.sku or i.product_id,
                        quantity=i.quantity,
                        unit_price=i.unit_price_cents,
                    )
                    for i in items.values()
                ],
                created_at=now,
            ),
            key=f"order-created:{order_id}",
        )
        order = await self.reload(order_id)
        number = confirmation_number(await store.next_counter(conn))
        await self.move(
            order,
            OrderStatus.CONFIRMED,
            reason="stock held and payment authorized",
            confirmation_number=number,
        )
        await self.publisher.order_confirmed(
            OrderConfirmed(
                order_id=uuid.UUID(order_id),
                customer_id=message.customer_id,
                confirmation_number=number,
                payment_authorization_id=message.payment_authorization_id,
                inventory_reservation_id=order.inventory_reservation_id,
                total=message.total,
                currency=message.currency,
                confirmed_at=now,
                checkout_id=message.checkout_id,
                items=[
                    OrderConfirmedItem(
                        product_id=uuid.UUID(i.product_id), quantity=i.quantity, sku=i.sku
                    )
                    for i in items.values()
                ],
                delivery_address=(
                    OrderConfirmedDeliveryAddress.model_validate(address) if address else None
                ),
            ),
            key=f"order-confirmed:{order_id}",
        )
        order = await self.reload(order_id)
        await self.move(order, OrderStatus.AWAITING_FULFILMENT, reason="handed to the warehouse")
        return await self.reload(order_id)

    async def cancel(self, order: store.OrderRow, reason: str) -> store.OrderRow:
        """Cancel (the caller checked the policy): order-cancelled unwinds stock, payment and
        the picking job."""
        now = self.tx.now()
        await self.move(
            order,
            OrderStatus.CANCELLED,
            reason=f"cancelled: {reason}",
            cancellation_reason=reason,
            terminal_at=now,
            hold_id=None,
            hold_reason=None,
        )
        await self.publisher.order_cancelled(
            OrderCancelled(
                order_id=uuid.UUID(order.order_id),
                customer_id=uuid.UUID(order.customer_id),
                reason=reason,
                cancelled_at=now,
            ),
            key=f"order-cancelled:{order.order_id}",
        )
        return await self.reload(order.order_id)

    async def archive(self, order: store.OrderRow) -> None:
        assert order.terminal_at is not None
        now = self.tx.now()
        items = await store.get_items(self.tx.conn, order.order_id)
        record = {
            "orderId": order.order_id,
            "customerId": order.customer_id,
            "checkoutId": order.checkout_id,
            "status": order.status,
            "confirmationNumber": order.confirmation_number,
            "total": order.total_cents,
            "currency": order.currency,
            "paymentAuthorizationId": order.payment_authorization_id,
            "deliveryAddress": order.delivery_address,
            "cancellationReason": order.cancellation_reason,
            "items": [
                {
                    "productId": i.product_id,
                    "sku": i.sku,
                    "quantity": i.quantity,
                    "unitPrice": i.unit_price_cents,
                }
                for i in items
            ],
            "createdAt": order.created_at.isoformat(),
            "terminalAt": order.terminal_at.isoformat(),
        }
        await self.move(order, OrderStatus.ARCHIVED, reason="archived", archived_at=now)
        await self.publisher.order_archived(
            OrderArchived(
                order_id=uuid.UUID(order.order_id),
                terminal_status=order.status,
                retention_category=retention_category(order.payment_authorization_id),
                archive_reference=f"orders/{order.order_id}",
                record_checksum=record_checksum(record),
                terminal_at=order.terminal_at,
                archived_at=now,
            ),
            key=f"order-archived:{order.order_id}",
        )


class OrderMessages:
    """Implements `OrderServiceHandlers`."""

    def __init__(self, app: SystemApp, settings: OrderSettings) -> None:
        self.app = app
        self.settings = settings

    async def on_create_order(self, message: CreateOrder, context: MessageContext) -> None:
        created = await OrderLifecycle(current()).create(message)
        if created is None:
            logger.info("create-order %s: order exists, nothing to do", context.message_id)

    async def on_cancel_order(self, message: CancelOrder, context: MessageContext) -> None:
        tx = current()
        order = await self._order(tx, str(message.order_id), "cancel-order")
        if order is None:
            return
        try:
            check_cancellation(
                order.status, is_owner=False, is_staff=False, reason=message.reason, system=True
            )
            await OrderLifecycle(tx).cancel(order, message.reason)
        except OrderConflict as exc:
            logger.warning("cancel-order for %s refused: %s", order.order_id, exc.reason)

    async def on_order_packed(self, message: OrderPacked, context: MessageContext) -> None:
        tx = current()
        order = await self._order(tx, str(message.order_id), "order-packed")
        if order is None or not self._fits(order, OrderStatus.FULFILLING, "order-packed"):
            return
        lifecycle = OrderLifecycle(tx)
        await lifecycle.move(order, OrderStatus.FULFILLING, reason="packed by the warehouse")
        items = await store.get_items(tx.conn, order.order_id)
        fulfilment_id = message.picking_job_id or uuid.uuid5(
            uuid.NAMESPACE_URL, f"acme:fulfilment:{order.order_id}"
        )
        await lifecycle.publisher.order_fulfilment_started(
            OrderFulfilmentStarted(
                order_id=message.order_id,
                fulfilment_id=fulfilment_id,
                warehouse_id=WAREHOUSE_ID,
                item_count=max(1, sum(i.quantity for i in items)),
                priority="STANDARD",
                delivery_method="HOME_DELIVERY",
                started_at=tx.now(),
            ),
            key=f"fulfilment-started:{order.order_id}",
        )

    async def on_shipment_delivered(
        self, message: ShipmentDelivered, context: MessageContext
    ) -> None:
        tx = current()
        order = await self._order(tx, str(message.order_id), "shipment-delivered")
        if order is None or not self._fits(order, OrderStatus.COMPLETED, "shipment-delivered"):
            return
        now = tx.now()
        lifecycle = OrderLifecycle(tx)
        await lifecycle.move(
            order,
            OrderStatus.COMPLETED,
            reason=f"delivered (shipment {message.shipment_id})",
            terminal_at=now,
            hold_id=None,
            hold_reason=None,
        )
        await lifecycle.publisher.order_completed(
            OrderCompleted(
                order_id=message.order_id,
                customer_id=uuid.UUID(order.customer_id),
                completed_at=now,
            ),
            key=f"order-completed:{order.order_id}",
        )

    async def on_shipment_failed(self, message: ShipmentFailed, context: MessageContext) -> None:
        tx = current()
        order = await self._order(tx, str(message.order_id), "shipment-failed")
        if order is None or not self._fits(order, OrderStatus.ON_HOLD, "shipment-failed"):
            return
        now = tx.now()
        reason = hold_reason_for(message.reason)
        hold_id = uuid.uuid4()
        lifecycle = OrderLifecycle(tx)
        await lifecycle.move(
            order,
            OrderStatus.ON_HOLD,
            reason=f"shipment {message.shipment_id} failed: {message.reason}",
            hold_id=str(hold_id),
            hold_reason=reason.value,
        )
        message_text = (
            "We could not deliver your parcel; please check your delivery address."
            if message.reason == "FAILED_DELIVERY"
            else "Your parcel did not arrive; we are checking stock before sending it again."
        )
        await lifecycle.publisher.order_placed_on_hold(
            OrderPlacedOnHold(
                order_id=message.order_id,
                hold_id=hold_id,
                reason=reason.value,
                owner_team=OWNER_TEAM,
                customer_message=message_text,
                review_by=now + HOLD_REVIEW_PERIOD,
                placed_at=now,
            ),
            key=f"hold:{hold_id}",
        )

    async def on_refund_processed(self, message: RefundProcessed, context: MessageContext) -> None:
        tx = current()
        if message.order_id is None:
            logger.info("refund %s names no order: not recorded", message.refund_id)
            return
        order = await self._order(tx, str(message.order_id), "refund-processed")
        if order is None:
            return
        # Two deliveries of one refund (redelivered under a new message id) can run side by
        # side; on PostgreSQL (read committed) both would find no REFUND row and both write
        # one. The order row's lock makes the second wait for the first to commit. SQLite
        # writers are serial already (FOR UPDATE is not rendered there).
        await tx.conn.execute(
            select(orders.c.order_id).where(orders.c.order_id == order.order_id).with_for_update()
        )
        refund_id = str(message.refund_id)
        if await store.refund_recorded(tx.conn, refund_id):
            return
        await store.add_history(
            tx.conn,
            order_id=order.order_id,
            entry_type="REFUND",
            status=order.status,
            reason=f"refunded {message.amount} {message.currency} of payment {message.payment_id}",
            correlation_id=tx.correlation_id,
            refund_id=refund_id,
            amount_cents=message.amount,
            changed_at=tx.now(),
        )

    async def archive(self) -> int:
        """Archive orders COMPLETED or CANCELLED for longer than the archive delay."""
        now = self.app.clock()
        delay = timedelta(days=self.settings.archive_after_days)
        async with self.app.store(ORDER_DATABASE).connect() as conn:
            due = await store.due_for_archive(conn, now - delay, self.settings.archive_batch_size)
        archived = 0
        for order_id in due:
            async with self.app.transaction(SERVICE, correlation_id=order_id) as tx:
                order = await store.get_order(tx.conn, order_id)
                if order is None or not archive_due(order.status, order.terminal_at, now, delay):
                    continue
                await OrderLifecycle(tx).archive(order)
                archived += 1
        if archived:
            logger.info("archived %d order(s)", archived)
        return archived

    async def _order(self, tx: Tx, order_id: str, what: str) -> store.OrderRow | None:
        order = await store.get_order(tx.conn, order_id)
        if order is None:
            logger.warning("%s for unknown order %s: acknowledged", what, order_id)
        return order

    def _fits(self, order: store.OrderRow, target: OrderStatus, what: str) -> bool:
        if can_move(order.status, target):
            return True
        logger.warning(
            "%s does not fit order %s in status %s: no transition",
            what,
            order.order_id,
            order.status,
        )
        return False


def archive_task(messages: OrderMessages) -> Callable[[], Awaitable[None]]:
    async def archive_orders() -> None:
        await messages.archive()

    return archive_orders
