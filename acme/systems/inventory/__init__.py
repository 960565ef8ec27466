"""Inventory System (catalog: domains/Fulfilment/systems/inventory-system).

inventory-service keeps stock per product in inventory-database and holds it for checkouts:

- reserve-inventory: all lines or none, each line a guarded `available >= quantity` update, so
  concurrent checkouts never oversell; answers inventory-reserved / inventory-unavailable;
- release-inventory (saga compensation), order-cancelled (stock returned, also after the
  order was confirmed) and an expiry sweep (`app.every`, reason EXPIRED) give units back;
- order-confirmed consumes the hold (units become `sold`);
- GET/PUT /stock/{productId}: staff read and set stock levels.

Invariant on every stock row, enforced by a CHECK in schema.sql:
available + reserved + sold = restocked.
Settings: `InventorySettings` (ACME_INVENTORY_HOLD_SECONDS, ..._SWEEP_INTERVAL_SECONDS).
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.inventory.handlers import ExpirySweep, InventoryHandlers
from acme.systems.inventory.http import InventoryHttp
from acme.systems.inventory.settings import InventorySettings

SERVICE_ID = "inventory-service"


def create(app: SystemApp, settings: InventorySettings | None = None) -> None:
    settings = settings or InventorySettings()
    app.handle(SERVICE_ID, InventoryHandlers(app, settings))
    app.serve(SERVICE_ID, InventoryHttp(app))
    sweep = ExpirySweep(app, settings)

    async def release_expired_holds() -> None:
        await sweep()

    app.every(settings.sweep_interval_seconds, release_expired_holds, name="release-expired-holds")
