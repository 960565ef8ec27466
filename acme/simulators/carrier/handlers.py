"""carrier-shipping-api takes bookings; the tracking feed later reports on them."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from acme.runtime import PermanentFailure, SystemApp, current
from acme.simulators.carrier import domain, store
from acme.simulators.carrier.domain import Odds, Schedule
from generated.messages.create_shipment import CreateShipment
from generated.messages.shipment_created import ShipmentCreated
from generated.messages.shipment_delivered import ShipmentDelivered
from generated.messages.shipment_failed import ShipmentFailed
from generated.services.carrier_tracking_api import CarrierTrackingApiPublisher
from generator.contracts import MessageContext

BATCH = 100


class CarrierShippingApi:
    """The booking endpoint (implements CarrierShippingApiHandlers)."""

    def __init__(self, odds: Odds, schedule: Schedule, carrier_name: str) -> None:
        self._odds = odds
        self._schedule = schedule
        self._carrier_name = carrier_name

    async def on_create_shipment(self, message: CreateShipment, context: MessageContext) -> None:
        if message.shipment_id is None:
            # Tracking events must echo the shipper's id; without one nobody could match them.
            raise PermanentFailure(
                f"create-shipment for order {message.order_id} has no shipmentId to echo"
            )
        tx = current()
        now = tx.now()
        fate = domain.decide(message.shipment_id, self._odds)
        await store.book(
            tx.conn,
            {
                "shipment_id": str(message.shipment_id),
                "order_id": str(message.order_id),
                "carrier": message.carrier or self._carrier_name,
                "service": message.service,
                "parcel_count": message.parcel_count,
                "recipient_name": message.destination.recipient_name,
                "tracking_number": fate.tracking_number,
                "outcome": fate.outcome,
                "failure_reason": fate.failure_reason,
                "booked_at": now,
                "created_due_at": self._schedule.created_at(now),
                "outcome_due_at": self._schedule.outcome_at(now),
            },
        )  # a redelivered booking is already there: the carrier deduplicates by shipment id


class TrackingFeed:
    """Publishes the tracking events that are due, as carrier-tracking-api."""

    def __init__(self, app: SystemApp, store_id: str) -> None:
        self._app = app
        self._store_id = store_id

    async def emit_due(self) -> int:
        """Send every due event, one transaction each; returns how many were sent."""
        now = self._app.clock()
        async with self._app.store(self._store_id).connect() as conn:
            # Final events first, and only for bookings whose shipment-created went out in an
            # earlier round: a booking's events are never published in the same round.
            finals = await store.outcome_due(conn, now, BATCH)
            creations = await store.created_due(conn, now, BATCH)
        count = 0
        for shipment_id in finals:
            count += await self._final(shipment_id)
        for shipment_id in creations:
            count += await self._created(shipment_id)
        return count

    async def _created(self, shipment_id: UUID) -> int:
        async with self._app.transaction("carrier-tracking-api") as tx:
            booking = await store.get(tx.conn, shipment_id)
            if booking is None or not await store.mark_sent(
                tx.conn, booking.shipment_id, "created_sent_at", tx.now()
            ):
                return 0
            await tx.publisher(CarrierTrackingApiPublisher).shipment_created(
                ShipmentCreated(
                    shipment_id=booking.shipment_id,
                    order_id=booking.order_id,
                    tracking_number=booking.tracking_number,
                    carrier=booking.carrier,
                    estimated_delivery=booking.outcome_due_at.date(),
                    created_at=booking.created_due_at,
                ),
                key=f"{booking.shipment_id}:created",
            )
            return 1

    async def _final(self, shipment_id: UUID) -> int:
        async with self._app.transaction("carrier-tracking-api") as tx:
            booking = await store.get(tx.conn, shipment_id)
            if booking is None or not await store.mark_sent(
                tx.conn, booking.shipment_id, "outcome_sent_at", tx.now()
            ):
                return 0
            publisher = tx.publisher(CarrierTrackingApiPublisher)
            key = f"{booking.shipment_id}:{booking.outcome.lower()}"
            if booking.outcome == "FAILED":
                await publisher.shipment_failed(
                    ShipmentFailed(
                        shipment_id=booking.shipment_id,
                        order_id=booking.order_id,
                        reason=cast(domain.FailureReason, booking.failure_reason),
                        failed_at=booking.outcome_due_at,
                    ),
                    key=key,
                )
            else:
                await publisher.shipment_delivered(
                    ShipmentDelivered(
                        shipment_id=booking.shipment_id,
                        order_id=booking.order_id,
                        delivered_at=booking.outcome_due_at,
                        signed_by=booking.recipient_name,
                    ),
                    key=key,
                )
            return 1
