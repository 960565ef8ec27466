"""The simulator's own small store: bookings and the tracking events still to send.

The table lives in the carrier host's runtime store (the carrier has no catalog container:
it is an external system, and this table is the simulator's, not Acme's). `create(app)` adds
`DDL` to that store, so the runtime applies it at start like catalog SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, utc

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS carrier_bookings (
    shipment_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    carrier TEXT NOT NULL,
    service TEXT,
    parcel_count INTEGER,
    recipient_name TEXT,
    tracking_number TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('DELIVERED', 'FAILED', 'DROPPED')),
    failure_reason TEXT,
    booked_at TIMESTAMPTZ NOT NULL,
    created_due_at TIMESTAMPTZ NOT NULL,
    outcome_due_at TIMESTAMPTZ NOT NULL,
    created_sent_at TIMESTAMPTZ,
    outcome_sent_at TIMESTAMPTZ
)""",
    "CREATE INDEX IF NOT EXISTS carrier_bookings_pending "
    "ON carrier_bookings (outcome_sent_at, created_due_at)",
)

bookings = Table(
    "carrier_bookings",
    MetaData(),
    Column("shipment_id", String, primary_key=True),
    Column("order_id", String, nullable=False),
    Column("carrier", String, nullable=False),
    Column("service", String),
    Column("parcel_count", Integer),
    Column("recipient_name", String),
    Column("tracking_number", String, nullable=False),
    Column("outcome", String, nullable=False),
    Column("failure_reason", String),
    Column("booked_at", DateTime(timezone=True), nullable=False),
    Column("created_due_at", DateTime(timezone=True), nullable=False),
    Column("outcome_due_at", DateTime(timezone=True), nullable=False),
    Column("created_sent_at", DateTime(timezone=True)),
    Column("outcome_sent_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Booking:
    shipment_id: UUID
    order_id: UUID
    carrier: str
    recipient_name: str | None
    tracking_number: str
    outcome: str
    failure_reason: str | None
    created_due_at: datetime
    outcome_due_at: datetime


def _booking(row: Any) -> Booking:
    created, outcome = utc(row.created_due_at), utc(row.outcome_due_at)
    assert created is not None and outcome is not None  # NOT NULL columns
    return Booking(
        shipment_id=UUID(row.shipment_id),
        order_id=UUID(row.order_id),
        carrier=row.carrier,
        recipient_name=row.recipient_name,
        tracking_number=row.tracking_number,
        outcome=row.outcome,
        failure_reason=row.failure_reason,
        created_due_at=created,
        outcome_due_at=outcome,
    )


async def book(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Record a booking; False when the shipment id is already booked (redelivery)."""
    return await insert_ignore(conn, bookings, values)


async def get(conn: AsyncConnection, shipment_id: UUID) -> Booking | None:
    row = (
        await conn.execute(select(bookings).where(bookings.c.shipment_id == str(shipment_id)))
    ).first()
    return _booking(row) if row else None


async def created_due(conn: AsyncConnection, now: datetime, limit: int) -> list[UUID]:
    rows = await conn.execute(
        select(bookings.c.shipment_id)
        .where(
            and_(
                bookings.c.created_sent_at.is_(None),
                bookings.c.outcome != "DROPPED",
                bookings.c.created_due_at <= now,
            )
        )
        .order_by(bookings.c.created_due_at)
        .limit(limit)
    )
    return [UUID(r.shipment_id) for r in rows]


async def outcome_due(conn: AsyncConnection, now: datetime, limit: int) -> list[UUID]:
    """Bookings whose shipment-created is out and whose final event is due."""
    rows = await conn.execute(
        select(bookings.c.shipment_id)
        .where(
            and_(
                bookings.c.created_sent_at.is_not(None),
                bookings.c.outcome_sent_at.is_(None),
                bookings.c.outcome_due_at <= now,
            )
        )
        .order_by(bookings.c.outcome_due_at)
        .limit(limit)
    )
    return [UUID(r.shipment_id) for r in rows]


async def mark_sent(conn: AsyncConnection, shipment_id: UUID, column: str, now: datetime) -> bool:
    """Claim one event of a booking: False when another poll already sent it."""
    target = bookings.c[column]
    result = await conn.execute(
        update(bookings)
        .where(and_(bookings.c.shipment_id == str(shipment_id), target.is_(None)))
        .values({column: now})
    )
    return bool(result.rowcount == 1)
