"""Warehouse System: picking jobs from confirmed order to packed parcels.

Implements the catalog pages of `warehouse-system` (Fulfilment domain):

- warehouse-service: on `order-confirmed` creates the order's picking job (items and delivery
  address from the event) and sends `start-picking`; on `order-packed` marks the job PACKED
  and sends `order-ready-for-shipping` with the address; `order-cancelled` cancels a job that
  is not packed, `order-completed` closes it, `order-delivery-address-changed` re-addresses it
  (newest revision wins, only before packing).
- picking-worker: on `start-picking` moves the job to PICKING with a due time drawn from a
  configurable, seedable delay (`ACME_WAREHOUSE_*`, see `config.py`); a periodic task packs due
  jobs (parcels of up to ten units) and sends `order-packed`. No handler waits: the picking
  time is a column, so it survives restarts and tests drive it with an injected clock.

Both services share warehouse-database (`picking_jobs`, `picking_job_items`).
"""

from __future__ import annotations

from acme.runtime import SystemApp
from acme.systems.warehouse.config import WarehouseSettings
from acme.systems.warehouse.domain import PickingClock
from acme.systems.warehouse.handlers import PickingWorker, WarehouseService

__all__ = ["create"]


def create(app: SystemApp) -> None:
    settings = WarehouseSettings()
    picking = PickingClock(
        settings.picking_delay_min, settings.picking_delay_max, settings.picking_seed
    )
    worker = PickingWorker(app, picking)
    app.handle("warehouse-service", WarehouseService())
    app.handle("picking-worker", worker)

    async def finish_due_jobs() -> None:
        await worker.finish_due_jobs()

    app.every(settings.poll_interval, finish_due_jobs, name="picking-worker:finish-due-jobs")
