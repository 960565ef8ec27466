"""Queries on shipping-database (generated `shipments` table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore
from acme.systems.shipping.domain import Destination
from generated.datastores.shipping_database import shipments


@dataclass(frozen=True)
class Shipment:
    shipment_id: UUID
    order_id: UUID
    status: str
    tracking_number: str | None
    carrier: str | None


def _shipment(row: Any) -> Shipment:
    return Shipment(
        shipment_id=UUID(row.shipment_id),
        order_id=UUID(row.order_id),
        status=row.status,
        tracking_number=row.tracking_number,
        carrier=row.carrier,
    )


async def by_id(conn: AsyncConnection, shipment_id: UUID) -> Shipment | None:
    row = (
        await conn.execute(select(shipments).where(shipments.c.shipment_id == str(shipment_id)))
    ).first()
    return _shipment(row) if row else None


async def open_shipment(
    conn: AsyncConnection,
    *,
    shipment_id: UUID,
    order_id: UUID,
    parcel_count: int,
    service: str,
    destination: Destination,
    now: datetime,
) -> bool:
    """One shipment per order (unique order_id): False when the order already has one."""
    return await insert_ignore(
        conn,
        shipments,
        {
            "shipment_id": str(shipment_id),
            "order_id": str(order_id),
            "status": "REQUESTED",
            "parcel_count": parcel_count,
            "service": service,
            "recipient_name": destination.recipient_name,
            "line1": destination.line1,
            "line2": destination.line2,
            "city": destination.city,
            "postcode": destination.postcode,
            "country": destination.country,
            "requested_at": now,
            "updated_at": now,
        },
    )


async def advance(
    conn: AsyncConnection,
    shipment_id: UUID,
    *,
    allowed_from: tuple[str, ...],
    status: str,
    now: datetime,
    **values: Any,
) -> bool:
    """Move the shipment to `status` if it is in one of `allowed_from` (row count tells)."""
    result = await conn.execute(
        update(shipments)
        .where(
            and_(
                shipments.c.shipment_id == str(shipment_id),
                shipments.c.status.in_(allowed_from),
            )
        )
        .values(status=status, updated_at=now, **values)
    )
    return bool(result.rowcount == 1)


async def fill_booking(
    conn: AsyncConnection,
    shipment_id: UUID,
    *,
    carrier: str | None,
    tracking_number: str,
    estimated_delivery: date | None,
    now: datetime,
) -> None:
    """A late shipment-created still tells the tracking number, without moving the state."""
    await conn.execute(
        update(shipments)
        .where(
            and_(
                shipments.c.shipment_id == str(shipment_id),
                shipments.c.tracking_number.is_(None),
            )
        )
        .values(
            carrier=carrier,
            tracking_number=tracking_number,
            estimated_delivery=estimated_delivery.isoformat() if estimated_delivery else None,
            updated_at=now,
        )
    )
