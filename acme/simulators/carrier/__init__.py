"""Carrier simulator: our stand-in for the EXTERNAL parcel carrier (catalog system `carrier`).

The real carrier is a third party; Acme does not run it. This simulator plays its two
interfaces on the platform's broker so the fulfilment flow runs end to end:

- carrier-shipping-api receives `create-shipment` and books the parcel. The booking's fate is
  drawn at once: a tracking number, and delivered, failed (with a reason) or silently dropped,
  with the configured probabilities; seeded, the fate depends only on (seed, shipmentId).
- carrier-tracking-api (a periodic task) later publishes `shipment-created`
  (`ACME_CARRIER_CREATED_DELAY` seconds after booking), then `shipment-delivered` or
  `shipment-failed` (`ACME_CARRIER_DELIVERY_DELAY` seconds later). Every event echoes the
  shipper's `shipmentId`; a booking without one is refused (dead-lettered).

Configuration (`config.CarrierSettings`, env `ACME_CARRIER_*`): FAILURE_RATE, DROP_RATE,
FAILURE_REASONS, CREATED_DELAY, DELIVERY_DELAY, SEED, POLL_INTERVAL, CARRIER_NAME.

Pending work is kept in the simulator's own small table (`carrier_bookings`, see `store.py`)
in the host's runtime store, with the due time of each event, so a restart loses nothing and
no handler ever sleeps; tests drive the delays with an injected clock.
"""

from __future__ import annotations

from dataclasses import replace

from acme.runtime import ConfigurationError, SystemApp
from acme.runtime.registry import DatastoreSpec
from acme.simulators.carrier import store
from acme.simulators.carrier.config import CarrierSettings
from acme.simulators.carrier.domain import Odds, Schedule
from acme.simulators.carrier.handlers import CarrierShippingApi, TrackingFeed

__all__ = ["create"]


def _add_own_table(app: SystemApp) -> str:
    """Give the carrier's runtime store the simulator's table (applied by the runtime at start)."""
    host = app.host
    store_id = host.primary_store("carrier-shipping-api")
    if host.primary_store("carrier-tracking-api") != store_id:
        raise ConfigurationError("carrier-shipping-api and carrier-tracking-api must share a store")
    existing = host.datastores.get(store_id)
    spec = DatastoreSpec(
        store_id,
        (existing.ddl if existing else ()) + store.DDL,
        existing.metadata if existing else None,
    )
    app.host = replace(host, datastores={**host.datastores, store_id: spec})
    return store_id


def create(app: SystemApp) -> None:
    settings = CarrierSettings()
    odds = Odds(settings.failure_rate, settings.drop_rate, settings.reasons, settings.seed)
    schedule = Schedule(settings.created_delay, settings.delivery_delay)
    store_id = _add_own_table(app)
    app.handle("carrier-shipping-api", CarrierShippingApi(odds, schedule, settings.carrier_name))
    feed = TrackingFeed(app, store_id)

    async def emit_due() -> None:
        await feed.emit_due()

    app.every(settings.poll_interval, emit_due, name="carrier-tracking-api:emit-due")
