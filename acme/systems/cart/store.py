"""Queries on cart-database (tables from generated.datastores.cart_database)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import utc
from acme.systems.cart.domain import Line, PricedLine, PriceEntry
from generated.datastores.cart_database import cart_discounts, cart_items, carts, product_prices

__all__ = [
    "CartRow",
    "Discount",
    "StoredLine",
    "clear_discounts",
    "delete_line",
    "end_checkout",
    "freeze_lines",
    "get_cart",
    "get_discounts",
    "get_lines",
    "get_prices",
    "insert_cart",
    "replace_discounts",
    "save_price",
    "set_line",
    "start_checkout",
    "touch",
]


@dataclass(frozen=True)
class CartRow:
    cart_id: str
    customer_id: str | None
    status: str
    currency: str
    promotion_code: str | None
    discount_cents: int
    checkout_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredLine:
    product_id: str
    quantity: int
    unit_price: int
    sku: str | None
    name: str | None

    @property
    def line(self) -> Line:
        return Line(self.product_id, self.quantity, self.unit_price)


@dataclass(frozen=True)
class Discount:
    promotion: str
    discount_cents: int
    calculated_at: datetime


def _dt(value: datetime) -> datetime:
    aware = utc(value)
    assert aware is not None
    return aware


# The statements of the checkout and pricing paths built once with bound parameters:
# SQLAlchemy then reuses their cache key and compiled form. (WHERE parameters are named w_*,
# apart from the columns an UPDATE's SET assigns.)
_CART = select(carts).where(carts.c.cart_id == bindparam("w_cart_id"))
_CART_LOCKED = _CART.with_for_update()
_LINES = (
    select(
        cart_items.c.product_id,
        cart_items.c.quantity,
        cart_items.c.unit_price_cents,
        product_prices.c.sku,
        product_prices.c.name,
    )
    .select_from(
        cart_items.outerjoin(product_prices, product_prices.c.product_id == cart_items.c.product_id)
    )
    .where(cart_items.c.cart_id == bindparam("w_cart_id"))
    .order_by(cart_items.c.added_at, cart_items.c.product_id)
)
_PRICES = select(product_prices).where(
    product_prices.c.product_id.in_(bindparam("w_product_ids", expanding=True))
)
_DISCOUNTS = (
    select(cart_discounts)
    .where(cart_discounts.c.cart_id == bindparam("w_cart_id"))
    .order_by(cart_discounts.c.promotion)
)
_TOUCH = update(carts).where(carts.c.cart_id == bindparam("w_cart_id"))
_UPDATE_LINE = update(cart_items).where(
    cart_items.c.cart_id == bindparam("w_cart_id"),
    cart_items.c.product_id == bindparam("w_product_id"),
)
_FREEZE = update(carts).where(
    carts.c.cart_id == bindparam("w_cart_id"), carts.c.status == bindparam("w_status")
)
_END_CHECKOUT = update(carts).where(
    carts.c.cart_id == bindparam("w_cart_id"),
    carts.c.status == bindparam("w_status"),
    carts.c.checkout_id == bindparam("w_checkout_id"),
)
_CLEAR_DISCOUNTS = delete(cart_discounts).where(cart_discounts.c.cart_id == bindparam("w_cart_id"))
_INSERT_DISCOUNT = cart_discounts.insert()


async def get_cart(conn: AsyncConnection, cart_id: str, *, lock: bool = False) -> CartRow | None:
    """One cart; `lock` holds its row until commit on PostgreSQL (SQLite already serialises
    writers), so concurrent changes of one cart queue instead of racing."""
    row = (await conn.execute(_CART_LOCKED if lock else _CART, {"w_cart_id": cart_id})).first()
    if row is None:
        return None
    return CartRow(
        cart_id=row.cart_id,
        customer_id=row.customer_id,
        status=row.status,
        currency=row.currency,
        promotion_code=row.promotion_code,
        discount_cents=int(row.discount_cents),
        checkout_id=row.checkout_id,
        created_at=_dt(row.created_at),
        updated_at=_dt(row.updated_at),
    )


async def insert_cart(
    conn: AsyncConnection, *, cart_id: str, customer_id: str, currency: str, now: datetime
) -> None:
    await conn.execute(
        carts.insert().values(
            cart_id=cart_id,
            customer_id=customer_id,
            status="OPEN",
            currency=currency,
            discount_cents=0,
            created_at=now,
            updated_at=now,
        )
    )


async def touch(conn: AsyncConnection, cart_id: str, now: datetime) -> None:
    await conn.execute(_TOUCH, {"updated_at": now, "w_cart_id": cart_id})


async def get_lines(conn: AsyncConnection, cart_id: str) -> list[StoredLine]:
    """Lines in the order they were added, with SKU and name from the price list."""
    rows = await conn.execute(_LINES, {"w_cart_id": cart_id})
    return [
        StoredLine(r.product_id, int(r.quantity), int(r.unit_price_cents), r.sku, r.name)
        for r in rows
    ]


async def set_line(
    conn: AsyncConnection,
    *,
    cart_id: str,
    product_id: str,
    quantity: int,
    unit_price: int,
    now: datetime,
    new: bool,
) -> None:
    if new:
        await conn.execute(
            cart_items.insert().values(
                cart_id=cart_id,
                product_id=product_id,
                quantity=quantity,
                unit_price_cents=unit_price,
                added_at=now,
            )
        )
    else:
        await conn.execute(
            _UPDATE_LINE,
            {
                "quantity": quantity,
                "unit_price_cents": unit_price,
                "w_cart_id": cart_id,
                "w_product_id": product_id,
            },
        )


async def freeze_lines(conn: AsyncConnection, cart_id: str, lines: Sequence[PricedLine]) -> None:
    """Write the quantities and prices the checkout charges onto the cart's lines."""
    if lines:
        await conn.execute(
            _UPDATE_LINE,
            [
                {
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price,
                    "w_cart_id": cart_id,
                    "w_product_id": line.product_id,
                }
                for line in lines
            ],
        )


async def start_checkout(
    conn: AsyncConnection,
    cart_id: str,
    *,
    open_status: str,
    values: dict[str, object],
) -> bool:
    """Move an `open_status` cart to the checkout `values`; False when it was not open."""
    result = await conn.execute(_FREEZE, {**values, "w_cart_id": cart_id, "w_status": open_status})
    return bool(result.rowcount == 1)


async def end_checkout(
    conn: AsyncConnection,
    cart_id: str,
    checkout_id: str,
    *,
    checking_out_status: str,
    values: dict[str, object],
) -> bool:
    """Apply `values` to the cart if it still waits for `checkout_id`; False otherwise."""
    result = await conn.execute(
        _END_CHECKOUT,
        {
            **values,
            "w_cart_id": cart_id,
            "w_status": checking_out_status,
            "w_checkout_id": checkout_id,
        },
    )
    return bool(result.rowcount == 1)


async def clear_discounts(conn: AsyncConnection, cart_id: str) -> None:
    await conn.execute(_CLEAR_DISCOUNTS, {"w_cart_id": cart_id})


async def delete_line(conn: AsyncConnection, cart_id: str, product_id: str) -> None:
    await conn.execute(
        delete(cart_items).where(
            cart_items.c.cart_id == cart_id, cart_items.c.product_id == product_id
        )
    )


async def get_prices(conn: AsyncConnection, product_ids: Iterable[str]) -> dict[str, PriceEntry]:
    ids = list(product_ids)
    if not ids:
        return {}
    rows = await conn.execute(_PRICES, {"w_product_ids": ids})
    return {
        r.product_id: PriceEntry(
            product_id=r.product_id,
            price_cents=int(r.price_cents),
            currency=r.currency,
            status=r.status,
            source_event_at=_dt(r.source_event_at),
            sku=r.sku,
            name=r.name,
        )
        for r in rows
    }


async def save_price(
    conn: AsyncConnection, entry: PriceEntry, *, exists: bool, now: datetime
) -> None:
    values = {
        "sku": entry.sku,
        "name": entry.name,
        "price_cents": entry.price_cents,
        "currency": entry.currency,
        "status": entry.status,
        "source_event_at": entry.source_event_at,
        "updated_at": now,
    }
    if exists:
        await conn.execute(
            update(product_prices)
            .where(product_prices.c.product_id == entry.product_id)
            .values(**values)
        )
    else:
        await conn.execute(product_prices.insert().values(product_id=entry.product_id, **values))


async def get_discounts(conn: AsyncConnection, cart_id: str) -> list[Discount]:
    rows = await conn.execute(_DISCOUNTS, {"w_cart_id": cart_id})
    return [Discount(r.promotion, int(r.discount_cents), _dt(r.calculated_at)) for r in rows]


async def replace_discounts(
    conn: AsyncConnection,
    *,
    cart_id: str,
    promotions: Sequence[str],
    discount: int,
    currency: str,
    calculated_at: datetime,
) -> None:
    """One row per applied promotion; the whole discount is booked on the first of them (the
    Promotion Service applies one code per calculation)."""
    await clear_discounts(conn, cart_id)
    rows = [
        {
            "cart_id": cart_id,
            "promotion": promotion,
            "discount_cents": discount if index == 0 else 0,
            "currency": currency,
            "calculated_at": calculated_at,
        }
        for index, promotion in enumerate(dict.fromkeys(promotions))
    ]
    if rows:
        await conn.execute(_INSERT_DISCOUNT, rows)
