"""Queries on warehouse-database (generated tables). Every state change is a conditional UPDATE
whose row count says whether this transaction made it, so concurrent handlers never both win."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.db import insert_ignore, utc
from acme.systems.warehouse.domain import OPEN_STATUSES, Address, Line
from generated.datastores.warehouse_database import picking_job_items, picking_jobs

jobs = picking_jobs
items = picking_job_items


@dataclass(frozen=True)
class Job:
    job_id: UUID
    order_id: UUID
    customer_id: UUID | None
    status: str
    address: Address
    address_revision: int
    parcel_count: int | None
    picking_due_at: datetime | None


def _job(row: object) -> Job:
    m = row._mapping  # type: ignore[attr-defined]
    return Job(
        job_id=UUID(m["job_id"]),
        order_id=UUID(m["order_id"]),
        customer_id=UUID(m["customer_id"]) if m["customer_id"] else None,
        status=m["status"],
        address=Address(
            line1=m["line1"],
            city=m["city"],
            postcode=m["postcode"],
            country=m["country"],
            recipient_name=m["recipient_name"],
            line2=m["line2"],
        ),
        address_revision=m["address_revision"],
        parcel_count=m["parcel_count"],
        picking_due_at=utc(m["picking_due_at"]),
    )


# Statements of the message path built once with bound parameters: SQLAlchemy then reuses
# their cache key and compiled form. (WHERE parameters are named w_*, apart from the columns
# an UPDATE's SET assigns.)
_BY_ORDER = select(jobs).where(jobs.c.order_id == bindparam("w_order_id"))
_BY_ID = select(jobs).where(jobs.c.job_id == bindparam("w_job_id"))
_LINES = (
    select(items.c.product_id, items.c.quantity)
    .where(items.c.job_id == bindparam("w_job_id"))
    .order_by(items.c.product_id)
)
_SET_STATUS = update(jobs).where(
    jobs.c.order_id == bindparam("w_order_id"),
    jobs.c.status.in_(bindparam("w_from", expanding=True)),
)
_BEGIN_PICKING = update(jobs).where(
    jobs.c.job_id == bindparam("w_job_id"), jobs.c.status == "CREATED"
)
_FINISH_PICKING = update(jobs).where(
    jobs.c.job_id == bindparam("w_job_id"),
    jobs.c.status == "PICKING",
    jobs.c.parcel_count.is_(None),
)
_PICKED = update(items).where(items.c.job_id == bindparam("w_job_id"))
_MARK_PACKED = update(jobs).where(
    jobs.c.order_id == bindparam("w_order_id"), jobs.c.status.in_(OPEN_STATUSES)
)
# The picking worker's poll (every poll_interval, idle or not).
_DUE = (
    select(jobs.c.job_id)
    .where(
        jobs.c.status == "PICKING",
        jobs.c.parcel_count.is_(None),
        jobs.c.picking_due_at <= bindparam("w_now"),
    )
    .order_by(jobs.c.picking_due_at)
    .limit(bindparam("w_limit"))
)


async def job_by_order(conn: AsyncConnection, order_id: UUID) -> Job | None:
    row = (await conn.execute(_BY_ORDER, {"w_order_id": str(order_id)})).first()
    return _job(row) if row else None


async def job_by_id(conn: AsyncConnection, job_id: UUID) -> Job | None:
    row = (await conn.execute(_BY_ID, {"w_job_id": str(job_id)})).first()
    return _job(row) if row else None


async def job_lines(conn: AsyncConnection, job_id: UUID) -> list[Line]:
    rows = await conn.execute(_LINES, {"w_job_id": str(job_id)})
    return [Line(UUID(r.product_id), r.quantity) for r in rows]


async def create_job(
    conn: AsyncConnection,
    *,
    job_id: UUID,
    order_id: UUID,
    customer_id: UUID,
    reservation_id: str | None,
    address: Address,
    lines: list[Line],
    now: datetime,
) -> bool:
    """Insert the job and its lines; False when the order already has a job."""
    created = await insert_ignore(
        conn,
        jobs,
        {
            "job_id": str(job_id),
            "order_id": str(order_id),
            "customer_id": str(customer_id),
            "reservation_id": reservation_id,
            "status": "CREATED",
            "recipient_name": address.recipient_name,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "postcode": address.postcode,
            "country": address.country,
            "address_revision": 1,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not created:
        return False
    await conn.execute(
        items.insert(),
        [
            {
                "job_id": str(job_id),
                "product_id": str(line.product_id),
                "quantity": line.quantity,
                "picked": False,
            }
            for line in lines
        ],
    )
    return True


async def set_status(
    conn: AsyncConnection,
    order_id: UUID,
    status: str,
    *,
    allowed_from: tuple[str, ...],
    now: datetime,
) -> bool:
    result = await conn.execute(
        _SET_STATUS,
        {
            "status": status,
            "updated_at": now,
            "w_order_id": str(order_id),
            "w_from": list(allowed_from),
        },
    )
    return bool(result.rowcount == 1)


async def mark_packed(
    conn: AsyncConnection, order_id: UUID, parcel_count: int, now: datetime
) -> bool:
    """CREATED/PICKING -> PACKED, announced for shipping now."""
    result = await conn.execute(
        _MARK_PACKED,
        {
            "status": "PACKED",
            "parcel_count": parcel_count,
            "ready_for_shipping_at": now,
            "updated_at": now,
            "w_order_id": str(order_id),
        },
    )
    return bool(result.rowcount == 1)


async def record_parcels(
    conn: AsyncConnection, order_id: UUID, parcel_count: int, now: datetime
) -> None:
    """Keep the parcel count of a job that was packed after it was cancelled (not shipped)."""
    await conn.execute(
        update(jobs)
        .where(and_(jobs.c.order_id == str(order_id), jobs.c.parcel_count.is_(None)))
        .values(parcel_count=parcel_count, updated_at=now)
    )


async def replace_address(
    conn: AsyncConnection, order_id: UUID, address: Address, revision: int, now: datetime
) -> bool:
    result = await conn.execute(
        update(jobs)
        .where(
            and_(
                jobs.c.order_id == str(order_id),
                jobs.c.status.in_(OPEN_STATUSES),
                jobs.c.address_revision < revision,
            )
        )
        .values(
            recipient_name=address.recipient_name,
            line1=address.line1,
            line2=address.line2,
            city=address.city,
            postcode=address.postcode,
            country=address.country,
            address_revision=revision,
            updated_at=now,
        )
    )
    return bool(result.rowcount == 1)


async def begin_picking(
    conn: AsyncConnection, job_id: UUID, *, due_at: datetime, picker: str, now: datetime
) -> bool:
    """CREATED -> PICKING with the time picking will be finished."""
    result = await conn.execute(
        _BEGIN_PICKING,
        {
            "status": "PICKING",
            "assigned_to": picker,
            "picking_due_at": due_at,
            "updated_at": now,
            "w_job_id": str(job_id),
        },
    )
    return bool(result.rowcount == 1)


async def due_jobs(conn: AsyncConnection, now: datetime, limit: int) -> list[UUID]:
    """Jobs being picked whose picking time is over and that are not packed yet."""
    rows = await conn.execute(_DUE, {"w_now": now, "w_limit": limit})
    return [UUID(r.job_id) for r in rows]


async def finish_picking(
    conn: AsyncConnection, job_id: UUID, parcel_count: int, now: datetime
) -> bool:
    """Mark every line picked and record the parcels; False when someone else finished it or
    the job left PICKING (cancelled) in the meantime."""
    result = await conn.execute(
        _FINISH_PICKING, {"parcel_count": parcel_count, "updated_at": now, "w_job_id": str(job_id)}
    )
    if result.rowcount != 1:
        return False
    await conn.execute(_PICKED, {"picked": True, "w_job_id": str(job_id)})
    return True
