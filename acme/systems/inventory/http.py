"""Inventory Service HTTP operations (generated contract: `InventoryServiceHttpHandlers`).

Both operations are staff-only; the generated router's authorizer already answers 401 without
a token and 403 without the `admin` role.
"""

from __future__ import annotations

import logging
import uuid

from acme.runtime import SystemApp
from acme.systems.inventory import store
from generated.messages.get_stock_level import GetStockLevelResponse
from generated.messages.set_stock_level import SetStockLevel
from generator.contracts import ApiError, RequestContext

SERVICE_ID = "inventory-service"
log = logging.getLogger("acme.inventory")


def _response(row: store.StockRow) -> GetStockLevelResponse:
    return GetStockLevelResponse(
        product_id=uuid.UUID(row.product_id), available=row.available, reserved=row.reserved
    )


class InventoryHttp:
    """Implements `generated.http.inventory_service.InventoryServiceHttpHandlers`."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def get_stock_level(
        self, product_id: str, request: RequestContext
    ) -> GetStockLevelResponse:
        async with self.app.store("inventory-database").connect() as conn:
            row = await store.get_stock(conn, str(uuid.UUID(product_id)))
        if row is None:
            raise ApiError(404, "not_found", f"product {product_id} has no stock record")
        return _response(row)

    async def set_stock_level(
        self, product_id: str, body: SetStockLevel, request: RequestContext
    ) -> GetStockLevelResponse:
        path_id = uuid.UUID(product_id)
        if body.product_id != path_id:
            raise ApiError(
                400,
                "id_mismatch",
                f"body productId {body.product_id} differs from the path's {path_id}",
            )
        async with self.app.transaction(SERVICE_ID, correlation_id=request.correlation_id) as tx:
            row = await store.set_available(tx.conn, str(path_id), body.available, tx.now())
        log.info("stock of %s set to %d available by %s", path_id, body.available, request.subject)
        return _response(row)
