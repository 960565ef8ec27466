"""Queries on inventory-database (generated tables, SQLAlchemy Core).

Every write is a conditional statement whose row count says whether it happened, so two
transactions racing for the same units or the same reservation cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore
from acme.systems.inventory.domain import Line, Move, ReservationStatus
from generated.datastores.inventory_database import reservation_items, reservations, stock


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StockRow:
    product_id: str
    available: int
    reserved: int
    sold: int
    restocked: int


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    order_id: str | None
    cart_id: str | None
    checkout_id: str | None
    status: str
    release_reason: str | None
    expires_at: datetime
    created_at: datetime
    lines: tuple[Line, ...]


async def get_stock(conn: AsyncConnection, product_id: str) -> StockRow | None:
    row = (
        (await conn.execute(select(stock).where(stock.c.product_id == product_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return StockRow(
        product_id=str(row["product_id"]),
        available=int(row["available"]),
        reserved=int(row["reserved"]),
        sold=int(row["sold"]),
        restocked=int(row["restocked"]),
    )


# Statements of the message path built once with bound parameters: SQLAlchemy then reuses
# their cache key and compiled form. (WHERE parameters are named w_*, apart from the columns
# an UPDATE's SET assigns.)
_APPLY_MOVE = (
    update(stock)
    .where(
        stock.c.product_id == bindparam("w_product_id"),
        stock.c.available + bindparam("w_available") >= 0,
        stock.c.reserved + bindparam("w_reserved") >= 0,
        stock.c.sold + bindparam("w_sold") >= 0,
    )
    .values(
        available=stock.c.available + bindparam("w_available"),
        reserved=stock.c.reserved + bindparam("w_reserved"),
        sold=stock.c.sold + bindparam("w_sold"),
        restocked=stock.c.restocked + bindparam("w_restocked"),
    )
)
_LINES = (
    select(reservation_items.c.product_id, reservation_items.c.quantity)
    .where(reservation_items.c.reservation_id == bindparam("w_reservation_id"))
    .order_by(reservation_items.c.product_id)
)
_NEWEST_FIRST = reservations.c.created_at.desc()
_BY_ID = (
    select(reservations)
    .where(reservations.c.reservation_id == bindparam("w_value"))
    .order_by(_NEWEST_FIRST)
)
_BY_CHECKOUT = (
    select(reservations)
    .where(reservations.c.checkout_id == bindparam("w_value"))
    .order_by(_NEWEST_FIRST)
)
_OF_ORDER = (
    select(reservations)
    .where(reservations.c.order_id == bindparam("w_order_id"))
    .order_by(reservations.c.created_at)
)
_INSERT_RESERVATION = reservations.insert()
_INSERT_LINES = reservation_items.insert()
_CHANGE_STATUS = update(reservations).where(
    reservations.c.reservation_id == bindparam("w_reservation_id"),
    reservations.c.status == bindparam("w_from"),
)
_CHANGE_STATUS_EXPIRED = update(reservations).where(
    reservations.c.reservation_id == bindparam("w_reservation_id"),
    reservations.c.status == bindparam("w_from"),
    reservations.c.expires_at <= bindparam("w_expired_before"),
)


async def available_of(conn: AsyncConnection, product_id: str) -> int:
    value = await conn.scalar(select(stock.c.available).where(stock.c.product_id == product_id))
    return int(value or 0)


async def apply_move(conn: AsyncConnection, product_id: str, move: Move, now: datetime) -> bool:
    """Apply `move` unless a count would go negative (or the product has no stock row).

    One statement reads and writes the row, so the check and the change are atomic: this is
    the `available >= quantity` guard that keeps concurrent reservations from overselling."""
    if not move.keeps_invariant:
        raise ValueError(f"stock move {move} would break available + reserved + sold = restocked")
    result = await conn.execute(
        _APPLY_MOVE,
        {
            "updated_at": now,
            "w_product_id": product_id,
            "w_available": move.available,
            "w_reserved": move.reserved,
            "w_sold": move.sold,
            "w_restocked": move.restocked,
        },
    )
    return bool(result.rowcount == 1)


async def set_available(
    conn: AsyncConnection, product_id: str, available: int, now: datetime
) -> StockRow:
    """Create the stock row if needed, then set `available`, booking the difference as restock
    in the same statement (no read-modify-write race with concurrent reservations)."""
    await insert_ignore(
        conn,
        stock,
        {
            "product_id": product_id,
            "available": 0,
            "reserved": 0,
            "sold": 0,
            "restocked": 0,
            "updated_at": now,
        },
    )
    await conn.execute(
        update(stock)
        .where(stock.c.product_id == product_id)
        .values(
            restocked=stock.c.restocked + (available - stock.c.available),
            available=available,
            updated_at=now,
        )
    )
    row = await get_stock(conn, product_id)
    assert row is not None  # inserted or present above, in this transaction
    return row


def _reservation(row: dict[str, object], lines: Sequence[Line]) -> Reservation:
    def opt(name: str) -> str | None:
        value = row[name]
        return None if value is None else str(value)

    expires_at = row["expires_at"]
    created_at = row["created_at"]
    assert isinstance(expires_at, datetime) and isinstance(created_at, datetime)
    return Reservation(
        reservation_id=str(row["reservation_id"]),
        order_id=opt("order_id"),
        cart_id=opt("cart_id"),
        checkout_id=opt("checkout_id"),
        status=str(row["status"]),
        release_reason=opt("release_reason"),
        expires_at=as_utc(expires_at),
        created_at=as_utc(created_at),
        lines=tuple(lines),
    )


async def _lines(conn: AsyncConnection, reservation_id: str) -> list[Line]:
    rows = await conn.execute(_LINES, {"w_reservation_id": reservation_id})
    return [Line(str(p), int(q)) for p, q in rows.all()]


async def _one(conn: AsyncConnection, query: Select[Any], value: str) -> Reservation | None:
    row = (await conn.execute(query, {"w_value": value})).mappings().first()
    if row is None:
        return None
    data = dict(row)
    return _reservation(data, await _lines(conn, str(data["reservation_id"])))


async def reservation_by_id(conn: AsyncConnection, reservation_id: str) -> Reservation | None:
    return await _one(conn, _BY_ID, reservation_id)


async def reservation_by_checkout(conn: AsyncConnection, checkout_id: str) -> Reservation | None:
    return await _one(conn, _BY_CHECKOUT, checkout_id)


async def reservations_of_order(conn: AsyncConnection, order_id: str) -> list[Reservation]:
    rows = (await conn.execute(_OF_ORDER, {"w_order_id": order_id})).mappings().all()
    found = []
    for row in rows:
        data = dict(row)
        found.append(_reservation(data, await _lines(conn, str(data["reservation_id"]))))
    return found


async def insert_reservation(
    conn: AsyncConnection,
    *,
    order_id: str | None,
    cart_id: str | None,
    checkout_id: str | None,
    lines: Sequence[Line],
    expires_at: datetime,
    now: datetime,
) -> str:
    reservation_id = str(uuid.uuid4())
    await conn.execute(
        _INSERT_RESERVATION,
        {
            "reservation_id": reservation_id,
            "order_id": order_id,
            "cart_id": cart_id,
            "checkout_id": checkout_id,
            "status": ReservationStatus.HELD.value,
            "expires_at": expires_at,
            "created_at": now,
            "updated_at": now,
        },
    )
    await conn.execute(
        _INSERT_LINES,
        [
            {
                "reservation_id": reservation_id,
                "product_id": line.product_id,
                "quantity": line.quantity,
            }
            for line in lines
        ],
    )
    return reservation_id


async def change_status(
    conn: AsyncConnection,
    reservation_id: str,
    *,
    from_status: str,
    to_status: str,
    release_reason: str | None,
    now: datetime,
    expired_before: datetime | None = None,
) -> bool:
    """Move a reservation from `from_status` to `to_status`; False if it was not in
    `from_status` any more (another transaction got there first)."""
    values: dict[str, Any] = {
        "status": to_status,
        "release_reason": release_reason,
        "updated_at": now,
        "w_reservation_id": reservation_id,
        "w_from": from_status,
    }
    if expired_before is None:
        result = await conn.execute(_CHANGE_STATUS, values)
    else:
        values["w_expired_before"] = expired_before
        result = await conn.execute(_CHANGE_STATUS_EXPIRED, values)
    return bool(result.rowcount == 1)


async def expired_holds(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    rows = await conn.execute(
        select(reservations.c.reservation_id)
        .where(
            reservations.c.status == ReservationStatus.HELD.value,
            reservations.c.expires_at <= now,
        )
        .order_by(reservations.c.expires_at)
        .limit(limit)
    )
    return [str(r) for r in rows.scalars().all()]


async def totals(conn: AsyncConnection) -> dict[str, int]:
    """Sums over all products (for invariant checks and operations dashboards)."""
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(stock.c.available), 0),
                func.coalesce(func.sum(stock.c.reserved), 0),
                func.coalesce(func.sum(stock.c.sold), 0),
                func.coalesce(func.sum(stock.c.restocked), 0),
            )
        )
    ).one()
    return {
        "available": int(row[0]),
        "reserved": int(row[1]),
        "sold": int(row[2]),
        "restocked": int(row[3]),
    }
