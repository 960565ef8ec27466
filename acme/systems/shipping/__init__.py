"""Shipping System: shipments for packed orders, booked with the carrier and tracked to the end.

Implements the catalog pages of `shipping-system` (Fulfilment domain):

- shipping-api: on `order-ready-for-shipping` opens the order's shipment (REQUESTED, one per
  order) in shipping-database and sends `shipment-requested`; the carrier's tracking events
  move it forward only: `shipment-created` -> CREATED (carrier, tracking number, estimated
  delivery), `shipment-delivered` -> DELIVERED, `shipment-failed` -> FAILED (both final).
  Tracking events for an unknown shipment fail and are retried, then dead-lettered.
- carrier-adapter: on `shipment-requested` sends `create-shipment` to the carrier with Acme's
  shipment id (the carrier echoes it), keyed by shipment so redelivery books once.
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.shipping.handlers import CarrierAdapter, ShippingApi

__all__ = ["create"]


def create(app: SystemApp) -> None:
    app.handle("shipping-api", ShippingApi())
    app.handle("carrier-adapter", CarrierAdapter())
