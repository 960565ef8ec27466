"""Message handlers of warehouse-service and picking-worker, and the picking worker's poll."""

from __future__ import annotations

import uuid
from datetime import datetime

from acme.runtime import PermanentFailure, SystemApp, current
from acme.systems.warehouse import domain, store
from acme.systems.warehouse.domain import Address, Line, PickingClock
from generated.messages.order_cancelled import OrderCancelled
from generated.messages.order_completed import OrderCompleted
from generated.messages.order_confirmed import OrderConfirmed
from generated.messages.order_delivery_address_changed import OrderDeliveryAddressChanged
from generated.messages.order_packed import OrderPacked
from generated.messages.order_ready_for_shipping import (
    OrderReadyForShipping,
    OrderReadyForShippingShippingAddress,
)
from generated.messages.start_picking import StartPicking, StartPickingItem
from generated.services.picking_worker import PickingWorkerPublisher
from generated.services.warehouse_service import WarehouseServicePublisher
from generator.contracts import MessageContext

PICKER = "picking-worker"
DUE_BATCH = 50

# Job ids derive from the order id, so a job and its start-picking command are the same on
# every redelivery, in every process.
_JOB_NAMESPACE = uuid.UUID("0b7e5a52-8f0e-4d8a-9a52-6a3c1f7f2d11")


def job_id_for(order_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_JOB_NAMESPACE, str(order_id))


class NoJobYet(RuntimeError):
    """An order event arrived before the order's job exists; retried by the runtime."""


def _start_picking(
    job_id: uuid.UUID, order_id: uuid.UUID, lines: list[Line], now: datetime
) -> StartPicking:
    return StartPicking(
        picking_job_id=job_id,
        order_id=order_id,
        items=[StartPickingItem(product_id=x.product_id, quantity=x.quantity) for x in lines],
        requested_at=now,
    )


class WarehouseService:
    """Owns the picking job's lifecycle (implements WarehouseServiceHandlers)."""

    async def on_order_confirmed(self, message: OrderConfirmed, context: MessageContext) -> None:
        tx = current()
        if not message.items or message.delivery_address is None:
            missing = "items" if not message.items else "deliveryAddress"
            raise PermanentFailure(
                f"order-confirmed for order {message.order_id} has no {missing}: "
                "a picking job needs both"
            )
        try:
            lines = domain.merge_lines(Line(i.product_id, i.quantity) for i in message.items)
        except domain.UnpickableOrder as exc:
            raise PermanentFailure(f"order {message.order_id}: {exc}") from exc
        a = message.delivery_address
        address = Address(
            line1=a.line1,
            city=a.city,
            postcode=a.postal_code,
            country=a.country_code,
            recipient_name=a.recipient_name,
            line2=a.line2,
        )
        job_id = job_id_for(message.order_id)
        now = tx.now()
        created = await store.create_job(
            tx.conn,
            job_id=job_id,
            order_id=message.order_id,
            customer_id=message.customer_id,
            reservation_id=message.inventory_reservation_id,
            address=address,
            lines=lines,
            now=now,
        )
        if not created:
            return  # the order already has its job (and its start-picking was sent with it)
        await tx.publisher(WarehouseServicePublisher).start_picking(
            _start_picking(job_id, message.order_id, lines, now), key=str(job_id)
        )

    async def on_order_packed(self, message: OrderPacked, context: MessageContext) -> None:
        tx = current()
        job = await store.job_by_order(tx.conn, message.order_id)
        if job is None:
            raise NoJobYet(f"order-packed for order {message.order_id}, which has no picking job")
        now = tx.now()
        parcels = message.parcel_count or job.parcel_count
        if parcels is None:
            parcels = domain.parcel_count(
                x.quantity for x in await store.job_lines(tx.conn, job.job_id)
            )
        if job.status == "CANCELLED":
            # Ordering has handled the cancellation; the parcels are unpacked, never shipped.
            await store.record_parcels(tx.conn, message.order_id, parcels, now)
            return
        if not await store.mark_packed(tx.conn, message.order_id, parcels, now):
            return  # already packed or closed: announced once
        a = job.address
        await tx.publisher(WarehouseServicePublisher).order_ready_for_shipping(
            OrderReadyForShipping(
                order_id=message.order_id,
                customer_id=job.customer_id,
                parcel_count=parcels,
                shipping_address=OrderReadyForShippingShippingAddress(
                    recipient_name=a.recipient_name,
                    line1=a.line1,
                    line2=a.line2,
                    city=a.city,
                    postcode=a.postcode,
                    country=a.country,
                ),
                ready_at=now,
            ),
            key=str(job.job_id),
        )

    async def on_order_cancelled(self, message: OrderCancelled, context: MessageContext) -> None:
        tx = current()
        job = await store.job_by_order(tx.conn, message.order_id)
        if job is None:
            raise NoJobYet(f"order-cancelled for order {message.order_id} before its job exists")
        if domain.can_cancel(job.status):
            await store.set_status(
                tx.conn,
                message.order_id,
                "CANCELLED",
                allowed_from=domain.OPEN_STATUSES,
                now=tx.now(),
            )
        # PACKED/CLOSED: Ordering refuses to cancel once fulfilment started; nothing to undo.

    async def on_order_completed(self, message: OrderCompleted, context: MessageContext) -> None:
        tx = current()
        job = await store.job_by_order(tx.conn, message.order_id)
        if job is None:
            raise NoJobYet(f"order-completed for order {message.order_id}, which has no job")
        if domain.can_close(job.status):
            await store.set_status(
                tx.conn,
                message.order_id,
                "CLOSED",
                allowed_from=("CREATED", "PICKING", "PACKED"),
                now=tx.now(),
            )

    async def on_order_delivery_address_changed(
        self, message: OrderDeliveryAddressChanged, context: MessageContext
    ) -> None:
        tx = current()
        job = await store.job_by_order(tx.conn, message.order_id)
        if job is None:
            raise NoJobYet(
                f"order-delivery-address-changed for order {message.order_id} before its job exists"
            )
        if not domain.accepts_address(job.status, job.address_revision, message.address_revision):
            return  # older revision, or the parcels have already been announced
        a = message.delivery_address
        address = domain.merge_address(
            job.address,
            line1=a.line1,
            city=a.city,
            postcode=a.postal_code,
            country=a.country_code,
            recipient_name=a.recipient_name,
            line2=a.line2,
        )
        await store.replace_address(
            tx.conn, message.order_id, address, message.address_revision, tx.now()
        )


class PickingWorker:
    """Starts picking on command; `finish_due_jobs` completes jobs whose picking time is over."""

    def __init__(self, app: SystemApp, clock: PickingClock) -> None:
        self._app = app
        self._clock = clock

    async def on_start_picking(self, message: StartPicking, context: MessageContext) -> None:
        tx = current()
        job = await store.job_by_id(tx.conn, message.picking_job_id)
        if job is None:
            raise NoJobYet(f"start-picking for unknown job {message.picking_job_id}")
        if job.status != "CREATED":
            return  # cancelled (nothing to pick), or already picking/packed (redelivery)
        now = tx.now()
        await store.begin_picking(
            tx.conn,
            job.job_id,
            due_at=self._clock.due_at(job.job_id, now),
            picker=PICKER,
            now=now,
        )

    async def finish_due_jobs(self) -> int:
        """Pack every job whose picking time is over; one transaction per job. Returns how
        many were packed."""
        async with self._app.store("warehouse-database").connect() as conn:
            due = await store.due_jobs(conn, self._app.clock(), DUE_BATCH)
        packed = 0
        for job_id in due:
            async with self._app.transaction("picking-worker") as tx:
                lines = await store.job_lines(tx.conn, job_id)
                parcels = domain.parcel_count(x.quantity for x in lines)
                job = await store.job_by_id(tx.conn, job_id)
                if job is None or not await store.finish_picking(
                    tx.conn, job_id, parcels, tx.now()
                ):
                    continue  # cancelled or finished by another poller meanwhile
                await tx.publisher(PickingWorkerPublisher).order_packed(
                    OrderPacked(
                        order_id=job.order_id,
                        picking_job_id=job_id,
                        parcel_count=parcels,
                        packed_at=tx.now(),
                    ),
                    key=str(job_id),
                )
                packed += 1
        return packed
