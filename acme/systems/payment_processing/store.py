"""Queries on payment-database (generated tables, SQLAlchemy Core).

Status changes are conditional updates (`WHERE status IN (...)`) whose row count says whether
this transaction made the change, so concurrent reports of one outcome apply it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore
from acme.systems.payment_processing.domain import PaymentState, PaymentStatus, RefundStatus
from generated.datastores.payment_database import (
    fraud_checks,
    payment_authorizations,
    payments,
    refunds,
)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    reason: str | None
    status: str
    processor_reference: str | None
    created_at: datetime
    processed_at: datetime | None


@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: str
    checkout_id: str | None
    customer_id: str | None
    amount: int
    currency: str
    payment_method: str
    status: str
    processor_reference: str | None
    failure_reason: str | None
    checkout_failed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refunds: tuple[Refund, ...] = ()

    @property
    def state(self) -> PaymentState:
        return PaymentState(
            status=self.status,
            amount=self.amount,
            checkout_failed=self.checkout_failed_at is not None,
            refunded_or_refunding=any(r.status != RefundStatus.FAILED for r in self.refunds),
        )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _refund(row: Any) -> Refund:
    return Refund(
        refund_id=str(row["refund_id"]),
        payment_id=str(row["payment_id"]),
        amount=int(row["amount_cents"]),
        currency=str(row["currency"]),
        reason=_opt(row["reason"]),
        status=str(row["status"]),
        processor_reference=_opt(row["processor_reference"]),
        created_at=as_utc(row["created_at"]),
        processed_at=None if row["processed_at"] is None else as_utc(row["processed_at"]),
    )


# Statements of the message path built once with bound parameters: SQLAlchemy then reuses
# their cache key and compiled form. (An UPDATE's WHERE parameters are named w_*, apart from
# the columns its SET assigns, which come from the execution parameters.)
_REFUNDS_OF = (
    select(refunds)
    .where(refunds.c.payment_id == bindparam("w_payment_id"))
    .order_by(refunds.c.created_at)
)
_BY_ID = select(payments).where(payments.c.payment_id == bindparam("w_payment_id"))
_BY_ORDER = select(payments).where(payments.c.order_id == bindparam("w_order_id"))
_MOVE = update(payments).where(
    payments.c.payment_id == bindparam("w_payment_id"),
    payments.c.status.in_(bindparam("w_from", expanding=True)),
)
_SET_REFERENCE = update(payments).where(
    payments.c.payment_id == bindparam("w_payment_id"), payments.c.processor_reference.is_(None)
)
_MARK_CHECKOUT_FAILED = update(payments).where(
    payments.c.payment_id == bindparam("w_payment_id"), payments.c.checkout_failed_at.is_(None)
)
_REFUND_BY_ID = select(refunds).where(refunds.c.refund_id == bindparam("w_refund_id"))
_MOVE_REFUND = update(refunds).where(
    refunds.c.refund_id == bindparam("w_refund_id"),
    refunds.c.status == RefundStatus.REQUESTED.value,
)
_SET_REFUND_REFERENCE = update(refunds).where(
    refunds.c.refund_id == bindparam("w_refund_id"), refunds.c.processor_reference.is_(None)
)


async def _payment(conn: AsyncConnection, row: Any) -> Payment:
    refund_rows = (
        (await conn.execute(_REFUNDS_OF, {"w_payment_id": row["payment_id"]})).mappings().all()
    )
    return Payment(
        payment_id=str(row["payment_id"]),
        order_id=str(row["order_id"]),
        checkout_id=_opt(row["checkout_id"]),
        customer_id=_opt(row["customer_id"]),
        amount=int(row["amount_cents"]),
        currency=str(row["currency"]),
        payment_method=str(row["payment_method"]),
        status=str(row["status"]),
        processor_reference=_opt(row["processor_reference"]),
        failure_reason=_opt(row["failure_reason"]),
        checkout_failed_at=None
        if row["checkout_failed_at"] is None
        else as_utc(row["checkout_failed_at"]),
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        refunds=tuple(_refund(r) for r in refund_rows),
    )


async def payment_by_id(conn: AsyncConnection, payment_id: str) -> Payment | None:
    row = (await conn.execute(_BY_ID, {"w_payment_id": payment_id})).mappings().first()
    return None if row is None else await _payment(conn, row)


async def payment_by_order(conn: AsyncConnection, order_id: str) -> Payment | None:
    row = (await conn.execute(_BY_ORDER, {"w_order_id": order_id})).mappings().first()
    return None if row is None else await _payment(conn, row)


async def insert_payment(
    conn: AsyncConnection,
    *,
    payment_id: str,
    order_id: str,
    checkout_id: str | None,
    customer_id: str | None,
    amount: int,
    currency: str,
    payment_method: str,
    status: PaymentStatus,
    now: datetime,
    checkout_failed_at: datetime | None = None,
) -> bool:
    """Insert unless the order already has a payment (payments are keyed by order)."""
    return await insert_ignore(
        conn,
        payments,
        {
            "payment_id": payment_id,
            "order_id": order_id,
            "checkout_id": checkout_id,
            "customer_id": customer_id,
            "amount_cents": amount,
            "currency": currency,
            "payment_method": payment_method,
            "status": status.value,
            "checkout_failed_at": checkout_failed_at,
            "created_at": now,
            "updated_at": now,
        },
    )


async def move_payment(
    conn: AsyncConnection,
    payment_id: str,
    *,
    from_statuses: Iterable[PaymentStatus],
    to_status: PaymentStatus,
    now: datetime,
    **values: Any,
) -> bool:
    """Change the status only if it is still one of `from_statuses`; True when it changed."""
    result = await conn.execute(
        _MOVE,
        {
            **values,
            "status": to_status.value,
            "updated_at": now,
            "w_payment_id": payment_id,
            "w_from": [s.value for s in from_statuses],
        },
    )
    return bool(result.rowcount == 1)


async def set_processor_reference(
    conn: AsyncConnection, payment_id: str, reference: str, now: datetime
) -> None:
    await conn.execute(
        _SET_REFERENCE,
        {"processor_reference": reference, "updated_at": now, "w_payment_id": payment_id},
    )


async def mark_checkout_failed(conn: AsyncConnection, payment_id: str, now: datetime) -> None:
    await conn.execute(
        _MARK_CHECKOUT_FAILED,
        {"checkout_failed_at": now, "updated_at": now, "w_payment_id": payment_id},
    )


async def record_fraud_check(
    conn: AsyncConnection,
    *,
    payment_id: str,
    passed: bool,
    score: float | None,
    reason: str | None,
    checked_at: datetime,
) -> bool:
    """One verdict per payment (unique payment_id); a repeated verdict is ignored."""
    return await insert_ignore(
        conn,
        fraud_checks,
        {
            "fraud_check_id": str(uuid.uuid4()),
            "payment_id": payment_id,
            "result": "passed" if passed else "failed",
            "score": score,
            "reason": reason,
            "checked_at": checked_at,
        },
    )


async def record_authorization(
    conn: AsyncConnection, *, payment_id: str, reference: str, authorized_at: datetime
) -> bool:
    return await insert_ignore(
        conn,
        payment_authorizations,
        {
            "authorization_id": str(uuid.uuid4()),
            "payment_id": payment_id,
            "provider_reference": reference,
            "authorized_at": authorized_at,
        },
    )


async def insert_refund(
    conn: AsyncConnection,
    *,
    refund_id: str,
    payment_id: str,
    amount: int,
    currency: str,
    reason: str,
    now: datetime,
) -> bool:
    return await insert_ignore(
        conn,
        refunds,
        {
            "refund_id": refund_id,
            "payment_id": payment_id,
            "amount_cents": amount,
            "currency": currency,
            "reason": reason,
            "status": RefundStatus.REQUESTED.value,
            "created_at": now,
        },
    )


async def refund_by_id(conn: AsyncConnection, refund_id: str) -> Refund | None:
    row = (await conn.execute(_REFUND_BY_ID, {"w_refund_id": refund_id})).mappings().first()
    return None if row is None else _refund(row)


async def move_refund(
    conn: AsyncConnection,
    refund_id: str,
    *,
    to_status: RefundStatus,
    **values: Any,
) -> bool:
    """REQUESTED -> `to_status`; False when the refund was already settled."""
    result = await conn.execute(
        _MOVE_REFUND, {**values, "status": to_status.value, "w_refund_id": refund_id}
    )
    return bool(result.rowcount == 1)


async def set_refund_reference(conn: AsyncConnection, refund_id: str, reference: str) -> None:
    await conn.execute(
        _SET_REFUND_REFERENCE, {"processor_reference": reference, "w_refund_id": refund_id}
    )
