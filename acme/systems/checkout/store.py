"""Queries on checkout-database (tables from generated.datastores.checkout_database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, utc
from acme.systems.checkout.domain import ACTIVE, Step, StepStatus
from generated.datastores.checkout_database import checkout_items, checkouts, saga_steps

__all__ = [
    "CheckoutRow",
    "ItemRow",
    "StepRow",
    "active_for_cart",
    "finish_step",
    "get_checkout",
    "get_checkout_by_order",
    "get_items",
    "get_steps",
    "insert_checkout",
    "overdue",
    "start_step",
    "transition",
]


@dataclass(frozen=True)
class CheckoutRow:
    checkout_id: str
    order_id: str
    cart_id: str
    customer_id: str
    status: str
    subtotal_cents: int | None
    discount_cents: int | None
    total_cents: int
    currency: str
    payment_method: str
    delivery_address: dict[str, Any] | None
    reservation_id: str | None
    payment_id: str | None
    processor_reference: str | None
    failure_reason: str | None
    failure_detail: str | None
    deadline_at: datetime
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class ItemRow:
    product_id: str
    sku: str | None
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class StepRow:
    step: str
    status: str
    command_message_id: str | None
    deadline_at: datetime | None
    finished_at: datetime | None
    detail: str | None


# The statements of the saga's hot path are built once with bound parameters: SQLAlchemy then
# reuses their cache key and compiled form instead of building both again on every call.
# (Parameters of an UPDATE's WHERE are named w_*, apart from the columns the SET assigns.)
_GET = select(checkouts).where(checkouts.c.checkout_id == bindparam("w_checkout_id"))
_GET_BY_ORDER = select(checkouts).where(checkouts.c.order_id == bindparam("w_order_id"))
_ACTIVE_FOR_CART = select(checkouts.c.checkout_id).where(
    checkouts.c.cart_id == bindparam("w_cart_id"),
    checkouts.c.status.in_([s.value for s in ACTIVE]),
)
_ITEMS = (
    select(checkout_items)
    .where(checkout_items.c.checkout_id == bindparam("w_checkout_id"))
    .order_by(checkout_items.c.product_id)
)
_STEPS = (
    select(saga_steps)
    .where(saga_steps.c.checkout_id == bindparam("w_checkout_id"))
    .order_by(saga_steps.c.started_at, saga_steps.c.step)
)
_TRANSITION = update(checkouts).where(
    checkouts.c.checkout_id == bindparam("w_checkout_id"),
    checkouts.c.status == bindparam("w_expected"),
)
_UPDATE_STEP = update(saga_steps).where(
    saga_steps.c.checkout_id == bindparam("w_checkout_id"),
    saga_steps.c.step == bindparam("w_step"),
)
_INSERT_CHECKOUT = checkouts.insert()
_INSERT_ITEM = checkout_items.insert()


def _dt(value: datetime) -> datetime:
    aware = utc(value)
    assert aware is not None
    return aware


def _row(r: Any) -> CheckoutRow:
    return CheckoutRow(
        checkout_id=r.checkout_id,
        order_id=r.order_id,
        cart_id=r.cart_id,
        customer_id=r.customer_id,
        status=r.status,
        subtotal_cents=r.subtotal_cents,
        discount_cents=r.discount_cents,
        total_cents=int(r.total_cents),
        currency=r.currency,
        payment_method=r.payment_method,
        delivery_address=r.delivery_address,
        reservation_id=r.reservation_id,
        payment_id=r.payment_id,
        processor_reference=r.processor_reference,
        failure_reason=r.failure_reason,
        failure_detail=r.failure_detail,
        deadline_at=_dt(r.deadline_at),
        started_at=_dt(r.started_at),
        updated_at=_dt(r.updated_at),
        completed_at=utc(r.completed_at),
    )


async def get_checkout(conn: AsyncConnection, checkout_id: str) -> CheckoutRow | None:
    r = (await conn.execute(_GET, {"w_checkout_id": checkout_id})).first()
    return None if r is None else _row(r)


async def get_checkout_by_order(conn: AsyncConnection, order_id: str) -> CheckoutRow | None:
    r = (await conn.execute(_GET_BY_ORDER, {"w_order_id": order_id})).first()
    return None if r is None else _row(r)


async def active_for_cart(conn: AsyncConnection, cart_id: str) -> str | None:
    """Id of a checkout of `cart_id` that is still running, if any."""
    return await conn.scalar(_ACTIVE_FOR_CART, {"w_cart_id": cart_id})


async def insert_checkout(
    conn: AsyncConnection, values: dict[str, Any], items: list[ItemRow]
) -> None:
    await conn.execute(_INSERT_CHECKOUT, values)
    if items:
        await conn.execute(
            _INSERT_ITEM,
            [
                {
                    "checkout_id": values["checkout_id"],
                    "product_id": item.product_id,
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                }
                for item in items
            ],
        )


async def get_items(conn: AsyncConnection, checkout_id: str) -> list[ItemRow]:
    rows = await conn.execute(_ITEMS, {"w_checkout_id": checkout_id})
    return [ItemRow(r.product_id, r.sku, int(r.quantity), int(r.unit_price_cents)) for r in rows]


async def transition(conn: AsyncConnection, checkout_id: str, expected: str, **values: Any) -> bool:
    """Move a checkout out of `expected` status; False when it is no longer there (a duplicate,
    a concurrent sweep or a late reply got there first)."""
    result = await conn.execute(
        _TRANSITION, {**values, "w_checkout_id": checkout_id, "w_expected": expected}
    )
    return bool(result.rowcount == 1)


async def start_step(
    conn: AsyncConnection,
    checkout_id: str,
    step: Step,
    *,
    now: datetime,
    deadline: datetime | None,
    command_message_id: str | None = None,
) -> bool:
    """Record that `step` starts (with the id of the command it sent, when the command is
    already in the outbox of this transaction); False when the checkout already has that step
    (the row is the once-only guard of its command)."""
    return await insert_ignore(
        conn,
        saga_steps,
        {
            "checkout_id": checkout_id,
            "step": step.value,
            "status": StepStatus.PENDING.value,
            "attempt": 1,
            "started_at": now,
            "deadline_at": deadline,
            "command_message_id": command_message_id,
        },
    )


async def finish_step(
    conn: AsyncConnection,
    checkout_id: str,
    step: Step,
    status: StepStatus,
    *,
    now: datetime,
    detail: str | None = None,
    command_message_id: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status.value, "finished_at": now}
    if detail is not None:
        values["detail"] = detail
    if command_message_id is not None:
        values["command_message_id"] = command_message_id
    values["w_checkout_id"] = checkout_id
    values["w_step"] = step.value
    await conn.execute(_UPDATE_STEP, values)


async def get_steps(conn: AsyncConnection, checkout_id: str) -> list[StepRow]:
    rows = await conn.execute(_STEPS, {"w_checkout_id": checkout_id})
    return [
        StepRow(
            r.step,
            r.status,
            r.command_message_id,
            utc(r.deadline_at),
            utc(r.finished_at),
            r.detail,
        )
        for r in rows
    ]


async def overdue(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(checkout id, status) of running checkouts whose current step is past its deadline."""
    rows = await conn.execute(
        select(checkouts.c.checkout_id, checkouts.c.status)
        .where(
            checkouts.c.status.in_([s.value for s in ACTIVE]),
            checkouts.c.deadline_at <= now,
        )
        .order_by(checkouts.c.deadline_at)
        .limit(limit)
    )
    return [(r.checkout_id, r.status) for r in rows]
