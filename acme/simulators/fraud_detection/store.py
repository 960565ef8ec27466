"""The simulator's own small store: one row per screened payment.

Fraud Detection is external and owns no catalog data store, so its history lives in the
host's runtime store (SQLite file `runtime-fraud-detection`, or the configured database),
in the same transaction as the inbox row and the outgoing verdict: a redelivered request is
never counted twice toward velocity, and it survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

screenings = Table(
    "fraud_screenings",
    metadata,
    Column("payment_id", Uuid(as_uuid=False), primary_key=True),
    Column("customer_id", Uuid(as_uuid=False)),
    Column("amount", BigInteger, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("reason", String),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Index("fraud_screenings_customer", "customer_id", "requested_at"),
)

_created: set[int] = set()


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def ensure_schema(conn: AsyncConnection) -> None:
    """Create the table on first use (idempotent; once per engine in this process)."""
    key = id(conn.engine.sync_engine)
    if key in _created:
        return
    await conn.run_sync(metadata.create_all, checkfirst=True)
    _created.add(key)


@dataclass(frozen=True)
class Screening:
    payment_id: str
    passed: bool
    score: float
    reason: str | None
    checked_at: datetime


async def find(conn: AsyncConnection, payment_id: str) -> Screening | None:
    row = (
        (await conn.execute(select(screenings).where(screenings.c.payment_id == payment_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Screening(
        payment_id=str(row["payment_id"]),
        passed=bool(row["passed"]),
        score=float(row["score"]),
        reason=row["reason"],
        checked_at=as_utc(row["checked_at"]),
    )


async def count_in_window(
    conn: AsyncConnection, customer_id: str, start: datetime, end: datetime
) -> int:
    """Payments of `customer_id` requested in (start, end]."""
    value = await conn.scalar(
        select(func.count())
        .select_from(screenings)
        .where(
            screenings.c.customer_id == customer_id,
            screenings.c.requested_at > start,
            screenings.c.requested_at <= end,
        )
    )
    return int(value or 0)


async def record(
    conn: AsyncConnection,
    *,
    payment_id: str,
    customer_id: str | None,
    amount: int,
    requested_at: datetime,
    passed: bool,
    score: float,
    reason: str | None,
    checked_at: datetime,
) -> None:
    await conn.execute(
        screenings.insert().values(
            payment_id=payment_id,
            customer_id=customer_id,
            amount=amount,
            requested_at=requested_at,
            passed=passed,
            score=score,
            reason=reason,
            checked_at=checked_at,
        )
    )
