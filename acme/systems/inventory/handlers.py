"""Inventory Service message handlers (generated contract: `InventoryServiceHandlers`).

Each handler runs in the runtime's transaction (inbox row, writes and outgoing events commit
together) and is idempotent by business key as well: a reservation per checkout, status
transitions guarded by the current status.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime import PermanentFailure, SystemApp, current
from acme.systems.inventory import domain, store
from acme.systems.inventory.domain import (
    CancelAction,
    ConfirmAction,
    ReleaseReason,
    ReservationStatus,
)
from acme.systems.inventory.settings import InventorySettings
from generated.messages.inventory_reserved import InventoryReserved, InventoryReservedItem
from generated.messages.inventory_unavailable import (
    InventoryUnavailable,
    InventoryUnavailableUnavailableItem,
)
from generated.messages.order_cancelled import OrderCancelled
from generated.messages.order_confirmed import OrderConfirmed
from generated.messages.release_inventory import ReleaseInventory
from generated.messages.reserve_inventory import ReserveInventory
from generated.services.inventory_service import InventoryServicePublisher
from generator.contracts import MessageContext

SERVICE_ID = "inventory-service"
log = logging.getLogger("acme.inventory")


def _uuid(value: object | None) -> str | None:
    return None if value is None else str(value)


async def release_reservation(
    conn: AsyncConnection,
    reservation: store.Reservation,
    reason: ReleaseReason,
    now: datetime,
    *,
    expired_before: datetime | None = None,
) -> bool:
    """HELD -> RELEASED and its units back to available; False when it was not HELD."""
    if not domain.can_release(reservation.status):
        return False
    changed = await store.change_status(
        conn,
        reservation.reservation_id,
        from_status=ReservationStatus.HELD,
        to_status=ReservationStatus.RELEASED,
        release_reason=reason.value,
        now=now,
        expired_before=expired_before,
    )
    if not changed:
        return False
    for line in reservation.lines:
        if not await store.apply_move(conn, line.product_id, domain.release(line.quantity), now):
            # The hold's units are in `reserved`, so this cannot fail unless the data is corrupt;
            # failing rolls the whole release back instead of losing units.
            raise RuntimeError(
                f"stock of {line.product_id} has fewer reserved units than reservation "
                f"{reservation.reservation_id} holds"
            )
    return True


class InventoryHandlers:
    """Implements `generated.services.inventory_service.InventoryServiceHandlers`."""

    def __init__(self, app: SystemApp, settings: InventorySettings) -> None:
        self.app = app
        self.settings = settings

    @property
    def hold(self) -> timedelta:
        return timedelta(seconds=self.settings.hold_seconds)

    async def on_reserve_inventory(
        self, message: ReserveInventory, context: MessageContext
    ) -> None:
        tx = current()
        conn, now = tx.conn, tx.now()
        publisher = tx.publisher(InventoryServicePublisher)
        checkout_id = _uuid(message.checkout_id)
        if checkout_id is not None:
            existing = await store.reservation_by_checkout(conn, checkout_id)
            if existing is not None:
                # The same checkout asking again gets the same answer, under the same message
                # id (key), so the saga's inbox drops it if the first one arrived.
                if existing.status == ReservationStatus.HELD:
                    await publisher.inventory_reserved(
                        self._reserved(existing), key=f"reserved-{existing.reservation_id}"
                    )
                else:
                    log.info(
                        "reserve-inventory for checkout %s: its reservation %s is already %s",
                        checkout_id,
                        existing.reservation_id,
                        existing.status,
                    )
                return
        try:
            lines = domain.merge_lines((str(i.product_id), i.quantity) for i in message.items)
        except ValueError as exc:  # the schema already demands quantity >= 1; defensive
            raise PermanentFailure(f"reserve-inventory: {exc}") from exc

        short = [line for line in lines if line.quantity > domain.MAX_UNITS]
        # All or nothing: hold each line with a guarded update inside a savepoint; if any line
        # is short, undo the lines already held and report every short line.
        async with conn.begin_nested() as savepoint:
            for line in lines:
                if line.quantity > domain.MAX_UNITS:
                    continue
                if not await store.apply_move(
                    conn, line.product_id, domain.reserve(line.quantity), now
                ):
                    short.append(line)
            if short:
                await savepoint.rollback()
        if short:
            unavailable = [
                InventoryUnavailableUnavailableItem(
                    product_id=uuid.UUID(line.product_id),
                    requested=line.quantity,
                    available=await store.available_of(conn, line.product_id),
                )
                for line in short
            ]
            await publisher.inventory_unavailable(
                InventoryUnavailable(
                    order_id=message.order_id,
                    cart_id=message.cart_id,
                    checkout_id=message.checkout_id,
                    unavailable_items=unavailable,
                    checked_at=now,
                ),
                key=f"unavailable-{context.message_id}",
            )
            return
        reservation_id = await store.insert_reservation(
            conn,
            order_id=_uuid(message.order_id),
            cart_id=_uuid(message.cart_id),
            checkout_id=checkout_id,
            lines=lines,
            expires_at=domain.hold_expires_at(now, self.hold),
            now=now,
        )
        created = await store.reservation_by_id(conn, reservation_id)
        assert created is not None
        await publisher.inventory_reserved(
            self._reserved(created), key=f"reserved-{reservation_id}"
        )

    async def on_release_inventory(
        self, message: ReleaseInventory, context: MessageContext
    ) -> None:
        tx = current()
        reservation = await store.reservation_by_id(tx.conn, str(message.reservation_id))
        if reservation is None:
            log.warning(
                "release-inventory: no reservation %s; nothing to release", message.reservation_id
            )
            return
        reason = ReleaseReason(message.reason or ReleaseReason.CHECKOUT_FAILED)
        if not await release_reservation(tx.conn, reservation, reason, tx.now()):
            log.info(
                "release-inventory: reservation %s is %s; nothing to release",
                reservation.reservation_id,
                reservation.status,
            )

    async def on_order_confirmed(self, message: OrderConfirmed, context: MessageContext) -> None:
        tx = current()
        conn, now = tx.conn, tx.now()
        reservation = await self._reservation_of(
            conn, message.inventory_reservation_id, str(message.order_id)
        )
        if reservation is None:
            log.warning("order-confirmed: order %s has no reservation", message.order_id)
            return
        action = domain.on_order_confirmed(reservation.status, reservation.release_reason)
        if action is ConfirmAction.NOTHING:
            log.info(
                "order-confirmed: reservation %s is %s (%s); nothing to consume",
                reservation.reservation_id,
                reservation.status,
                reservation.release_reason,
            )
            return
        if action is ConfirmAction.CONSUME:
            if await store.change_status(
                conn,
                reservation.reservation_id,
                from_status=ReservationStatus.HELD,
                to_status=ReservationStatus.CONSUMED,
                release_reason=None,
                now=now,
            ):
                for line in reservation.lines:
                    if not await store.apply_move(
                        conn, line.product_id, domain.consume(line.quantity), now
                    ):
                        raise RuntimeError(
                            f"stock of {line.product_id} has fewer reserved units than "
                            f"reservation {reservation.reservation_id} holds"
                        )
            return
        # The hold expired before the order was confirmed: take the units again if they are
        # still free; otherwise the order is oversold and staff must resolve it.
        async with conn.begin_nested() as savepoint:
            short = [
                line
                for line in reservation.lines
                if not await store.apply_move(
                    conn, line.product_id, domain.retake(line.quantity), now
                )
            ]
            if short:
                await savepoint.rollback()
            else:
                await store.change_status(
                    conn,
                    reservation.reservation_id,
                    from_status=ReservationStatus.RELEASED,
                    to_status=ReservationStatus.CONSUMED,
                    release_reason=None,
                    now=now,
                )
        if short:
            log.error(
                "OVERSELL: order %s was confirmed after its reservation %s expired and %s "
                "no longer have the units; staff must resolve it",
                message.order_id,
                reservation.reservation_id,
                ", ".join(f"{line.quantity} x {line.product_id}" for line in short),
            )

    async def on_order_cancelled(self, message: OrderCancelled, context: MessageContext) -> None:
        tx = current()
        conn, now = tx.conn, tx.now()
        found = await store.reservations_of_order(conn, str(message.order_id))
        if not found:
            log.info("order-cancelled: order %s has no reservation", message.order_id)
        for reservation in found:
            action = domain.on_order_cancelled(reservation.status)
            if action is CancelAction.RELEASE_HOLD:
                await release_reservation(conn, reservation, ReleaseReason.ORDER_CANCELLED, now)
            elif action is CancelAction.RETURN_SOLD and await store.change_status(
                conn,
                reservation.reservation_id,
                from_status=ReservationStatus.CONSUMED,
                to_status=ReservationStatus.RELEASED,
                release_reason=ReleaseReason.ORDER_CANCELLED.value,
                now=now,
            ):
                for line in reservation.lines:
                    if not await store.apply_move(
                        conn, line.product_id, domain.return_sold(line.quantity), now
                    ):
                        raise RuntimeError(
                            f"stock of {line.product_id} has fewer sold units than "
                            f"reservation {reservation.reservation_id} consumed"
                        )

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _reserved(reservation: store.Reservation) -> InventoryReserved:
        return InventoryReserved(
            reservation_id=uuid.UUID(reservation.reservation_id),
            order_id=None if reservation.order_id is None else uuid.UUID(reservation.order_id),
            cart_id=None if reservation.cart_id is None else uuid.UUID(reservation.cart_id),
            checkout_id=None
            if reservation.checkout_id is None
            else uuid.UUID(reservation.checkout_id),
            items=[
                InventoryReservedItem(product_id=uuid.UUID(line.product_id), quantity=line.quantity)
                for line in reservation.lines
            ],
            reserved_at=reservation.created_at,
        )

    @staticmethod
    async def _reservation_of(
        conn: AsyncConnection, reservation_id: str | None, order_id: str
    ) -> store.Reservation | None:
        if reservation_id:
            try:
                key = str(uuid.UUID(reservation_id))
            except ValueError:
                log.warning("order %s names reservation %r, not a UUID", order_id, reservation_id)
            else:
                found = await store.reservation_by_id(conn, key)
                if found is not None:
                    return found
        of_order = await store.reservations_of_order(conn, order_id)
        return of_order[-1] if of_order else None


class ExpirySweep:
    """Releases HELD reservations past their deadline with reason EXPIRED (app.every)."""

    def __init__(self, app: SystemApp, settings: InventorySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self) -> int:
        """One sweep; returns how many reservations were released."""
        released = 0
        while True:
            async with self.app.transaction(SERVICE_ID) as tx:
                now = tx.now()
                due = await store.expired_holds(tx.conn, now, self.settings.sweep_batch)
                for reservation_id in due:
                    reservation = await store.reservation_by_id(tx.conn, reservation_id)
                    if reservation is not None and await release_reservation(
                        tx.conn, reservation, ReleaseReason.EXPIRED, now, expired_before=now
                    ):
                        released += 1
            if len(due) < self.settings.sweep_batch:
                break
        if released:
            log.info("released %d expired reservation(s)", released)
        return released
