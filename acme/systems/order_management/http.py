"""HTTP operations of order-service (implements OrderServiceHttpHandlers)."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime import SystemApp
from acme.systems.order_management import store
from acme.systems.order_management.domain import (
    ADDRESS_CHANGEABLE,
    OrderConflict,
    OrderForbidden,
    OrderStatus,
    check_cancellation,
)
from acme.systems.order_management.handlers import ORDER_DATABASE, SERVICE, OrderLifecycle
from generated.messages.cancel_order import CancelOrder
from generated.messages.change_order_delivery_address import ChangeOrderDeliveryAddress
from generated.messages.get_order import (
    GetOrderResponse,
    GetOrderResponseDeliveryAddress,
    GetOrderResponseItem,
)
from generated.messages.list_orders import ListOrdersResponse, ListOrdersResponseOrder
from generated.messages.order_amended import OrderAmended
from generated.messages.order_delivery_address_changed import (
    OrderDeliveryAddressChanged,
    OrderDeliveryAddressChangedDeliveryAddress,
)
from generated.messages.order_hold_released import OrderHoldReleased
from generated.messages.release_order_hold import ReleaseOrderHold
from generator.contracts import ApiError, RequestContext

__all__ = ["OrderHttp", "order_view"]

StatusFilter = Literal[
    "CREATED",
    "CONFIRMED",
    "AWAITING_FULFILMENT",
    "FULFILLING",
    "ON_HOLD",
    "COMPLETED",
    "CANCELLED",
    "ARCHIVED",
]
MAX_OFFSET = 1_000_000  # deeper pages are empty, without asking the database


def canonical_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _caller(request: RequestContext) -> str | None:
    return canonical_id(request.subject) if request.subject else None


def _owner_or_staff(order: store.OrderRow, request: RequestContext) -> None:
    if request.is_admin or _caller(request) == order.customer_id:
        return
    raise ApiError(403, "forbidden", f"order {order.order_id} belongs to another customer")


def _path_matches(order_id: str, body_order_id: uuid.UUID) -> None:
    if str(body_order_id) != order_id:
        raise ApiError(400, "bad_request", f"body orderId {body_order_id} differs from the path")


async def order_view(conn: AsyncConnection, order: store.OrderRow) -> GetOrderResponse:
    items = await store.get_items(conn, order.order_id)
    address = order.delivery_address
    return GetOrderResponse(
        order_id=uuid.UUID(order.order_id),
        customer_id=uuid.UUID(order.customer_id),
        status=OrderStatus(order.status).value,
        items=[
            GetOrderResponseItem(
                product_id=uuid.UUID(i.product_id),
                quantity=i.quantity,
                unit_price=i.unit_price_cents,
                sku=i.sku,
            )
            for i in items
        ],
        total=order.total_cents,
        currency=order.currency,
        created_at=order.created_at,
        confirmation_number=order.confirmation_number,
        checkout_id=uuid.UUID(order.checkout_id) if order.checkout_id else None,
        delivery_address=GetOrderResponseDeliveryAddress.model_validate(address)
        if address
        else None,
        hold_reason=order.hold_reason,
        cancellation_reason=order.cancellation_reason,
        updated_at=order.updated_at,
    )


class OrderHttp:
    """Implements `OrderServiceHttpHandlers`: shoppers see and act on their own orders, staff
    (role admin) on any."""

    def __init__(self, app: SystemApp) -> None:
        self.app = app

    async def list_orders(
        self,
        customer_id: str | None,
        status: StatusFilter | None,
        page: int,
        page_size: int,
        request: RequestContext,
    ) -> ListOrdersResponse:
        whose = canonical_id(customer_id) if customer_id else None
        if not request.is_admin:
            caller = _caller(request)
            if whose is not None and whose != caller:
                raise ApiError(403, "forbidden", "shoppers list only their own orders")
            whose = caller
        if (page - 1) * page_size > MAX_OFFSET:
            return ListOrdersResponse(orders=[], total=0, page=page, page_size=page_size)
        async with self.app.store(ORDER_DATABASE).connect() as conn:
            rows, total = await store.list_orders(
                conn, customer_id=whose, status=status, page=page, page_size=page_size
            )
        return ListOrdersResponse(
            orders=[
                ListOrdersResponseOrder(
                    order_id=uuid.UUID(order.order_id),
                    status=OrderStatus(order.status).value,
                    confirmation_number=order.confirmation_number,
                    item_count=units or None,
                    total=order.total_cents,
                    currency=order.currency,
                    created_at=order.created_at,
                )
                for order, units in rows
            ],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def get_order(self, order_id: str, request: RequestContext) -> GetOrderResponse:
        order_id = canonical_id(order_id)
        async with self.app.store(ORDER_DATABASE).connect() as conn:
            order = await self._found(conn, order_id)
            _owner_or_staff(order, request)
            return await order_view(conn, order)

    async def cancel_order(
        self, order_id: str, body: CancelOrder, request: RequestContext
    ) -> GetOrderResponse:
        order_id = canonical_id(order_id)
        _path_matches(order_id, body.order_id)
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            order = await self._found(tx.conn, order_id)
            try:
                check_cancellation(
                    order.status,
                    is_owner=_caller(request) == order.customer_id,
                    is_staff=request.is_admin,
                    reason=body.reason,
                )
                order = await OrderLifecycle(tx).cancel(order, body.reason)
            except OrderForbidden as exc:
                raise ApiError(403, "forbidden", exc.reason) from None
            except OrderConflict as exc:
                raise ApiError(409, "conflict", exc.reason) from None
            return await order_view(tx.conn, order)

    async def change_order_delivery_address(
        self, order_id: str, body: ChangeOrderDeliveryAddress, request: RequestContext
    ) -> GetOrderResponse:
        order_id = canonical_id(order_id)
        _path_matches(order_id, body.order_id)
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            order = await self._found(tx.conn, order_id)
            _owner_or_staff(order, request)
            if order.status not in ADDRESS_CHANGEABLE:
                raise ApiError(
                    409,
                    "conflict",
                    f"Cannot change the delivery address: the order is {order.status}",
                )
            now = tx.now()
            address = body.delivery_address.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
            previous = order.delivery_address or {}
            changed = await store.update_order(
                tx.conn,
                order_id,
                order.status,
                delivery_address=address,
                address_revision=order.address_revision + 1,
                revision=order.revision + 1,
                updated_at=now,
            )
            if not changed:
                raise ApiError(409, "conflict", f"order {order_id} changed meanwhile; try again")
            who = request.subject or "unknown"
            lifecycle = OrderLifecycle(tx)
            await lifecycle.publisher.order_delivery_address_changed(
                OrderDeliveryAddressChanged(
                    order_id=uuid.UUID(order_id),
                    address_revision=order.address_revision + 1,
                    previous_postal_code=str(previous.get("postalCode", "")),
                    delivery_address=OrderDeliveryAddressChangedDeliveryAddress.model_validate(
                        address
                    ),
                    changed_by=who,
                    changed_at=now,
                ),
                key=f"address:{order_id}:{order.address_revision + 1}",
            )
            await lifecycle.publisher.order_amended(
                OrderAmended(
                    order_id=uuid.UUID(order_id),
                    revision=order.revision + 1,
                    changed_fields=["deliveryAddress"],
                    previous_total=order.total_cents,
                    new_total=order.total_cents,
                    currency=order.currency,
                    amended_by=who,
                    reason=body.reason,
                    amended_at=now,
                ),
                key=f"amended:{order_id}:{order.revision + 1}",
            )
            return await order_view(tx.conn, await lifecycle.reload(order_id))

    async def release_order_hold(
        self, order_id: str, body: ReleaseOrderHold, request: RequestContext
    ) -> GetOrderResponse:
        order_id = canonical_id(order_id)
        _path_matches(order_id, body.order_id)
        if not request.is_admin:  # the route requires the role already; keep the rule here too
            raise ApiError(403, "forbidden", "releasing a hold is a staff action")
        async with self.app.transaction(SERVICE, correlation_id=request.correlation_id) as tx:
            order = await self._found(tx.conn, order_id)
            if order.status != OrderStatus.ON_HOLD:
                raise ApiError(409, "conflict", f"the order is {order.status}, not ON_HOLD")
            lifecycle = OrderLifecycle(tx)
            target = OrderStatus(body.next_status)
            try:
                await lifecycle.move(
                    order,
                    target,
                    reason=f"hold released: {body.resolution}",
                    hold_id=None,
                    hold_reason=None,
                )
            except OrderConflict as exc:
                raise ApiError(409, "conflict", exc.reason) from None
            await lifecycle.publisher.order_hold_released(
                OrderHoldReleased(
                    order_id=uuid.UUID(order_id),
                    hold_id=uuid.UUID(order.hold_id)
                    if order.hold_id
                    else uuid.uuid5(uuid.NAMESPACE_URL, f"acme:hold:{order_id}"),
                    previous_reason=order.hold_reason or "ADDRESS_VERIFICATION",
                    resolution=body.resolution,
                    released_by=request.subject or "unknown",
                    next_status=target.value,
                    released_at=tx.now(),
                ),
                key=f"hold-released:{order.hold_id or order_id}",
            )
            return await order_view(tx.conn, await lifecycle.reload(order_id))

    async def _found(self, conn: AsyncConnection, order_id: str) -> store.OrderRow:
        order = await store.get_order(conn, order_id)
        if order is None:
            raise ApiError(404, "not_found", f"order {order_id} does not exist")
        return order
