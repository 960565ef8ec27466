"""Message handlers of shipping-api and carrier-adapter."""

from __future__ import annotations

import uuid

from acme.runtime import PermanentFailure, current
from acme.systems.shipping import domain, store
from acme.systems.shipping.domain import Destination, TrackingEvent
from generated.messages.create_shipment import CreateShipment, CreateShipmentDestination
from generated.messages.order_ready_for_shipping import OrderReadyForShipping
from generated.messages.shipment_created import ShipmentCreated
from generated.messages.shipment_delivered import ShipmentDelivered
from generated.messages.shipment_failed import ShipmentFailed
from generated.messages.shipment_requested import (
    ShipmentRequested,
    ShipmentRequestedDestination,
)
from generated.services.carrier_adapter import CarrierAdapterPublisher
from generated.services.shipping_api import ShippingApiPublisher
from generator.contracts import MessageContext


class UnknownShipment(RuntimeError):
    """A tracking event for a shipment not (yet) opened here; retried, then dead-lettered."""


class ShippingApi:
    """Opens shipments and records the carrier's tracking (implements ShippingApiHandlers)."""

    async def on_order_ready_for_shipping(
        self, message: OrderReadyForShipping, context: MessageContext
    ) -> None:
        tx = current()
        a = message.shipping_address
        try:
            destination = Destination.of(
                line1=a.line1,
                city=a.city,
                postcode=a.postcode,
                country=a.country,
                recipient_name=a.recipient_name,
                line2=a.line2,
            )
        except domain.IncompleteDestination as exc:
            raise PermanentFailure(f"order {message.order_id}: {exc}") from exc
        shipment_id = uuid.uuid4()
        parcels = message.parcel_count or 1
        now = tx.now()
        opened = await store.open_shipment(
            tx.conn,
            shipment_id=shipment_id,
            order_id=message.order_id,
            parcel_count=parcels,
            service=domain.DEFAULT_SERVICE,
            destination=destination,
            now=now,
        )
        if not opened:
            return  # the order has its shipment; its request was committed with it
        await tx.publisher(ShippingApiPublisher).shipment_requested(
            ShipmentRequested(
                shipment_id=shipment_id,
                order_id=message.order_id,
                parcel_count=parcels,
                destination=ShipmentRequestedDestination(
                    recipient_name=destination.recipient_name,
                    line1=destination.line1,
                    line2=destination.line2,
                    city=destination.city,
                    postcode=destination.postcode,
                    country=destination.country,
                ),
                service=domain.DEFAULT_SERVICE,
                requested_at=now,
            ),
            key=str(shipment_id),
        )

    async def _track(
        self, shipment_id: uuid.UUID, order_id: uuid.UUID, event: TrackingEvent
    ) -> store.Shipment | None:
        """The shipment if `event` moves it, else None; unknown ids are retried."""
        tx = current()
        shipment = await store.by_id(tx.conn, shipment_id)
        if shipment is None:
            raise UnknownShipment(f"shipment-{event} for unknown shipment {shipment_id}")
        if shipment.order_id != order_id:
            raise PermanentFailure(
                f"shipment-{event} names order {order_id}, but shipment {shipment_id} "
                f"belongs to order {shipment.order_id}"
            )
        return shipment if domain.next_status(shipment.status, event) else None

    async def on_shipment_created(self, message: ShipmentCreated, context: MessageContext) -> None:
        tx = current()
        shipment = await self._track(message.shipment_id, message.order_id, "created")
        if shipment is None:
            # Late or repeated: keep the booking details, never reopen the shipment.
            await store.fill_booking(
                tx.conn,
                message.shipment_id,
                carrier=message.carrier,
                tracking_number=message.tracking_number,
                estimated_delivery=message.estimated_delivery,
                now=tx.now(),
            )
            return
        await store.advance(
            tx.conn,
            message.shipment_id,
            allowed_from=domain.sources("created"),
            status=domain.target("created"),
            now=tx.now(),
            carrier=message.carrier,
            tracking_number=message.tracking_number,
            estimated_delivery=(
                message.estimated_delivery.isoformat() if message.estimated_delivery else None
            ),
        )

    async def on_shipment_delivered(
        self, message: ShipmentDelivered, context: MessageContext
    ) -> None:
        tx = current()
        if await self._track(message.shipment_id, message.order_id, "delivered") is None:
            return
        await store.advance(
            tx.conn,
            message.shipment_id,
            allowed_from=domain.sources("delivered"),
            status=domain.target("delivered"),
            now=tx.now(),
            delivered_at=message.delivered_at,
            signed_by=message.signed_by,
        )

    async def on_shipment_failed(self, message: ShipmentFailed, context: MessageContext) -> None:
        tx = current()
        if await self._track(message.shipment_id, message.order_id, "failed") is None:
            return
        await store.advance(
            tx.conn,
            message.shipment_id,
            allowed_from=domain.sources("failed"),
            status=domain.target("failed"),
            now=tx.now(),
            failure_reason=message.reason,
        )


class CarrierAdapter:
    """Turns Acme's shipment requests into the carrier's booking command (stateless)."""

    async def on_shipment_requested(
        self, message: ShipmentRequested, context: MessageContext
    ) -> None:
        d = message.destination
        await (
            current()
            .publisher(CarrierAdapterPublisher)
            .create_shipment(
                CreateShipment(
                    order_id=message.order_id,
                    shipment_id=message.shipment_id,
                    carrier=domain.CARRIER,
                    service=message.service or domain.DEFAULT_SERVICE,
                    parcel_count=message.parcel_count,
                    destination=CreateShipmentDestination(
                        recipient_name=d.recipient_name,
                        line1=d.line1,
                        line2=d.line2,
                        city=d.city,
                        postcode=d.postcode,
                        country=d.country,
                    ),
                ),
                # Same booking id on every redelivery: the carrier sees one command per shipment.
                key=str(message.shipment_id),
            )
        )
