"""Queries on order-database (tables from generated.datastores.order_database)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, utc
from generated.datastores.order_database import (
    order_counters,
    order_items,
    order_status_history,
    orders,
)

__all__ = [
    "HistoryRow",
    "ItemRow",
    "OrderRow",
    "add_history",
    "due_for_archive",
    "get_history",
    "get_items",
    "get_order",
    "insert_order",
    "list_orders",
    "move",
    "next_counter",
    "order_for_checkout",
    "refund_recorded",
    "update_order",
]

CONFIRMATION_COUNTER = "confirmation_number"


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    checkout_id: str | None
    cart_id: str | None
    customer_id: str
    status: str
    confirmation_number: str | None
    total_cents: int
    currency: str
    payment_authorization_id: str | None
    inventory_reservation_id: str | None
    delivery_address: dict[str, Any] | None
    address_revision: int
    revision: int
    status_sequence: int
    hold_id: str | None
    hold_reason: str | None
    cancellation_reason: str | None
    terminal_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ItemRow:
    product_id: str
    sku: str | None
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class HistoryRow:
    entry_type: str
    sequence: int | None
    previous_status: str | None
    status: str
    reason: str | None
    refund_id: str | None
    amount_cents: int | None
    changed_at: datetime


# Statements of the message path built once with bound parameters: SQLAlchemy then reuses
# their cache key and compiled form. (An UPDATE's WHERE parameters are named w_*, apart from
# the columns its SET assigns, which come from the execution parameters.)
_GET = select(orders).where(orders.c.order_id == bindparam("w_order_id"))
_FOR_CHECKOUT = select(orders.c.order_id).where(orders.c.checkout_id == bindparam("w_checkout_id"))
_ITEMS = (
    select(order_items)
    .where(order_items.c.order_id == bindparam("w_order_id"))
    .order_by(order_items.c.product_id)
)
_COUNT_UP = (
    update(order_counters)
    .where(order_counters.c.name == bindparam("w_name"))
    .values(value=order_counters.c.value + 1)
)
_COUNTER = select(order_counters.c.value).where(order_counters.c.name == bindparam("w_name"))
_MOVE = (
    update(orders)
    .where(orders.c.order_id == bindparam("w_order_id"), orders.c.status == bindparam("w_expected"))
    .values(status_sequence=orders.c.status_sequence + 1)
)
_SEQUENCE = select(orders.c.status_sequence).where(orders.c.order_id == bindparam("w_order_id"))
_UPDATE = update(orders).where(
    orders.c.order_id == bindparam("w_order_id"), orders.c.status == bindparam("w_expected")
)
_HISTORY = (
    select(order_status_history)
    .where(order_status_history.c.order_id == bindparam("w_order_id"))
    .order_by(order_status_history.c.changed_at, order_status_history.c.sequence)
)
_REFUND_RECORDED = select(order_status_history.c.history_id).where(
    order_status_history.c.refund_id == bindparam("w_refund_id")
)
_INSERT_ORDER = orders.insert()
_INSERT_ITEM = order_items.insert()
_INSERT_HISTORY = order_status_history.insert()


def _dt(value: datetime) -> datetime:
    aware = utc(value)
    assert aware is not None
    return aware


def _order(r: Any) -> OrderRow:
    return OrderRow(
        order_id=r.order_id,
        checkout_id=r.checkout_id,
        cart_id=r.cart_id,
        customer_id=r.customer_id,
        status=r.status,
        confirmation_number=r.confirmation_number,
        total_cents=int(r.total_cents),
        currency=r.currency,
        payment_authorization_id=r.payment_authorization_id,
        inventory_reservation_id=r.inventory_reservation_id,
        delivery_address=r.delivery_address,
        address_revision=int(r.address_revision),
        revision=int(r.revision),
        status_sequence=int(r.status_sequence),
        hold_id=r.hold_id,
        hold_reason=r.hold_reason,
        cancellation_reason=r.cancellation_reason,
        terminal_at=utc(r.terminal_at),
        archived_at=utc(r.archived_at),
        created_at=_dt(r.created_at),
        updated_at=_dt(r.updated_at),
    )


async def get_order(conn: AsyncConnection, order_id: str) -> OrderRow | None:
    r = (await conn.execute(_GET, {"w_order_id": order_id})).first()
    return None if r is None else _order(r)


async def order_for_checkout(conn: AsyncConnection, checkout_id: str) -> str | None:
    return await conn.scalar(_FOR_CHECKOUT, {"w_checkout_id": checkout_id})


async def insert_order(conn: AsyncConnection, values: dict[str, Any], items: list[ItemRow]) -> None:
    await conn.execute(_INSERT_ORDER, values)
    if items:
        await conn.execute(
            _INSERT_ITEM,
            [
                {
                    "order_id": values["order_id"],
                    "product_id": item.product_id,
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                }
                for item in items
            ],
        )


async def get_items(conn: AsyncConnection, order_id: str) -> list[ItemRow]:
    rows = await conn.execute(_ITEMS, {"w_order_id": order_id})
    return [ItemRow(r.product_id, r.sku, int(r.quantity), int(r.unit_price_cents)) for r in rows]


async def next_counter(conn: AsyncConnection, name: str = CONFIRMATION_COUNTER) -> int:
    """The next value of a counter. The UPDATE locks the counter row until commit, so two
    transactions never get the same number (portable: no database sequences)."""
    await insert_ignore(conn, order_counters, {"name": name, "value": 0})
    await conn.execute(_COUNT_UP, {"w_name": name})
    value = await conn.scalar(_COUNTER, {"w_name": name})
    return int(value or 0)


async def move(
    conn: AsyncConnection, order_id: str, expected: str, target: str, **values: Any
) -> int | None:
    """Move the order from `expected` to `target` status; the new status sequence, or None
    when the order is no longer in `expected` (another transition got there first)."""
    result = await conn.execute(
        _MOVE, {**values, "status": target, "w_order_id": order_id, "w_expected": expected}
    )
    if result.rowcount != 1:
        return None
    sequence = await conn.scalar(_SEQUENCE, {"w_order_id": order_id})
    return int(sequence or 0)


async def update_order(
    conn: AsyncConnection, order_id: str, expected_status: str, **values: Any
) -> bool:
    result = await conn.execute(
        _UPDATE, {**values, "w_order_id": order_id, "w_expected": expected_status}
    )
    return bool(result.rowcount == 1)


def _uuid_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None  # correlation ids from HTTP headers need not be UUIDs


async def add_history(
    conn: AsyncConnection,
    *,
    order_id: str,
    status: str,
    changed_at: datetime,
    sequence: int | None = None,
    previous_status: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
    entry_type: str = "STATUS",
    refund_id: str | None = None,
    amount_cents: int | None = None,
) -> None:
    await conn.execute(
        _INSERT_HISTORY,
        {
            "history_id": str(uuid.uuid4()),
            "order_id": order_id,
            "entry_type": entry_type,
            "sequence": sequence,
            "previous_status": previous_status,
            "status": status,
            "reason": reason,
            "correlation_id": _uuid_or_none(correlation_id),
            "refund_id": refund_id,
            "amount_cents": amount_cents,
            "changed_at": changed_at,
        },
    )


async def get_history(conn: AsyncConnection, order_id: str) -> list[HistoryRow]:
    rows = await conn.execute(_HISTORY, {"w_order_id": order_id})
    return [
        HistoryRow(
            r.entry_type,
            r.sequence,
            r.previous_status,
            r.status,
            r.reason,
            r.refund_id,
            r.amount_cents,
            _dt(r.changed_at),
        )
        for r in rows
    ]


async def refund_recorded(conn: AsyncConnection, refund_id: str) -> bool:
    found = await conn.scalar(_REFUND_RECORDED, {"w_refund_id": refund_id})
    return found is not None


async def list_orders(
    conn: AsyncConnection,
    *,
    customer_id: str | None,
    status: str | None,
    page: int,
    page_size: int,
) -> tuple[list[tuple[OrderRow, int]], int]:
    """One page of orders, newest first, each with its number of units; and the total count."""
    conditions = []
    if customer_id is not None:
        conditions.append(orders.c.customer_id == customer_id)
    if status is not None:
        conditions.append(orders.c.status == status)
    total = await conn.scalar(select(func.count()).select_from(orders).where(*conditions))
    units = (
        select(func.coalesce(func.sum(order_items.c.quantity), 0))
        .where(order_items.c.order_id == orders.c.order_id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(orders, units.label("units"))
        .where(*conditions)
        .order_by(orders.c.created_at.desc(), orders.c.order_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [(_order(r), int(r.units)) for r in rows], int(total or 0)


async def due_for_archive(conn: AsyncConnection, cutoff: datetime, limit: int) -> list[str]:
    rows = await conn.execute(
        select(orders.c.order_id)
        .where(orders.c.status.in_(["COMPLETED", "CANCELLED"]), orders.c.terminal_at <= cutoff)
        .order_by(orders.c.terminal_at)
        .limit(limit)
    )
    return [r.order_id for r in rows]
